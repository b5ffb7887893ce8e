{#- The five AR aging buckets (SPEC §3 "AR aging as of D") with their sort order, as a relation
    (aging_bucket, bucket_order): every summary shows all five, empty ones at 0. -#}
{% macro aging_buckets() -%}
    select 'current' as aging_bucket, 1 as bucket_order
    union all select '1-30', 2
    union all select '31-60', 3
    union all select '61-90', 4
    union all select '91+', 5
{%- endmacro %}
