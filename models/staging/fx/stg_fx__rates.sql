-- The rate file of SPEC §3 "Reporting currency": one row per rate_date and currency, each value parsed and
-- checked (a bad value, a day given twice for a currency, or a rate other than 1 for the reporting currency
-- itself stops the build naming file, row and column). Empty without a reporting currency.
with source as (

    select * from {{ source('fx', 'rates') }}

),

typed as (

    select
        case
            when try_cast(rate_date as date) is null
                then {{ fx_value_error('rate_date', orb_quoted_value('rate_date') ~ " || ' is not a date (YYYY-MM-DD)'") }}
            else try_cast(rate_date as date)
        end as rate_date,
        case
            when not (length(upper(trim(currency))) = 3
                      and substr(upper(trim(currency)), 1, 1) between 'A' and 'Z'
                      and substr(upper(trim(currency)), 2, 1) between 'A' and 'Z'
                      and substr(upper(trim(currency)), 3, 1) between 'A' and 'Z')
              or currency is null
                then {{ fx_value_error('currency', "coalesce(" ~ orb_quoted_value('currency') ~ ", 'null') || ' is not an ISO 4217 currency code'") }}
            else upper(trim(currency))
        end as currency,
        case
            when try_cast(rate as decimal(18, 12)) is null
              or try_cast(rate as decimal(18, 12)) <> try_cast(rate as decimal(38, 18))
              or try_cast(rate as decimal(18, 12)) <= 0
                then {{ fx_value_error('rate', "coalesce(" ~ orb_quoted_value('rate') ~ ", 'null') || ' is not a positive decimal (at most 6 digits before the point and 12 after)'") }}
            else try_cast(rate as decimal(18, 12))
        end as rate,
        _file as source_file,
        _row as source_row
    from source

),

checked as (

    select
        *,
        count(*) over (partition by rate_date, currency) as rows_for_day,
        min(source_row) over (partition by rate_date, currency) as first_row_for_day,
        max(source_row) over (partition by rate_date, currency) as last_row_for_day
    from typed

),

final as (

    select
        rate_date,
        currency,
        case
            when rows_for_day > 1 then {{ orb_raise(
                "'Rate file ' || source_file || ': rows ' || cast(first_row_for_day as " ~ dbt.type_string()
                ~ ") || ' and ' || cast(last_row_for_day as " ~ dbt.type_string() ~ ") || ' both give a rate for ' || currency"
                ~ " || ' on ' || cast(rate_date as " ~ dbt.type_string() ~ ")") }}
            when currency = {{ reporting_currency_sql() }} and rate <> 1 then {{ orb_raise(
                "'Rate file ' || source_file || ', row ' || cast(source_row as " ~ dbt.type_string() ~ ") || ', column rate: '"
                ~ " || currency || ' is the reporting currency (rate 1), the file gives ' || cast(rate as " ~ dbt.type_string()
                ~ ") || ' (a file for another reporting currency?)'") }}
            else rate
        end as rate,
        source_file,
        source_row
    from checked

)

select * from final
