{#- The five AR aging buckets (SPEC §3 "AR aging as of D") with their sort order, as a relation
    (aging_bucket, bucket_order). -#}
{% macro aging_buckets() -%}
    select 'current' as aging_bucket, 1 as bucket_order
    union all select '1-30', 2
    union all select '31-60', 3
    union all select '61-90', 4
    union all select '91+', 5
{%- endmacro %}


{#- The CTEs `buckets`, `key_groups`, `totals` and `final`: aged invoices (the relation `aged`, with as_of_date,
    aging_bucket, amount_outstanding and the `keys` columns) summed per keys and bucket, all five buckets for
    every keys combination with open invoices (empty ones at 0). The shape of ar_aging_summary (keys:
    currency) and ar_aging_monthly (keys: month_end, currency). -#}
{% macro aging_bucket_totals(aged, keys) -%}
    {%- set key_list = keys | join(', ') -%}
buckets as (

    {{ aging_buckets() }}

),

key_groups as (

    select distinct {{ key_list }}, as_of_date from {{ aged }}

),

totals as (

    select
        {{ key_list }},
        aging_bucket,
        count(*) as invoice_count,
        sum(amount_outstanding) as amount_outstanding
    from {{ aged }}
    group by {{ key_list }}, aging_bucket

),

final as (

    select
        {%- for key in keys %}
        key_groups.{{ key }},
        {%- endfor %}
        buckets.aging_bucket,
        buckets.bucket_order,
        key_groups.as_of_date,
        coalesce(totals.invoice_count, 0) as invoice_count,
        {{ to_money('coalesce(totals.amount_outstanding, 0)') }} as amount_outstanding
    from key_groups
    cross join buckets
    left join totals
        on {% for key in keys %}key_groups.{{ key }} = totals.{{ key }}
       and {% endfor -%}
           buckets.aging_bucket = totals.aging_bucket

)
{%- endmacro %}
