{#
  Money. Row amounts are staged as decimal(18, 6); every money column of a mart (and every sum) is
  money_type() = decimal(38, 6): exact, the same on DuckDB and Spark whatever the engine widens a sum or
  product to. Rounding happens only where a SPEC §3 rule says so, to the currency's minor unit
  (seeds/currencies.csv), half away from zero.
#}

{% macro money_type() -%}
  decimal(38, 6)
{%- endmacro %}


{% macro to_money(expression) -%}
  cast({{ expression }} as {{ money_type() }})
{%- endmacro %}


{#- Round to the minor unit given by a column (0, 2, 3 or 4 digits); half away from zero on both engines
    (round() of a decimal is HALF_UP on Spark and half-away on DuckDB; the precision must be a constant,
    hence one branch per minor unit). Each branch is cast to money_type(): DuckDB gives a CASE over
    round(decimal(37, 18), 0) ... round(..., 4) the type decimal(38, 1), which would round again. -#}
{% macro round_to_minor_unit(amount, minor_unit) -%}
  case {{ minor_unit }}
      when 0 then {{ to_money("round(" ~ amount ~ ", 0)") }}
      when 2 then {{ to_money("round(" ~ amount ~ ", 2)") }}
      when 3 then {{ to_money("round(" ~ amount ~ ", 3)") }}
      when 4 then {{ to_money("round(" ~ amount ~ ", 4)") }}
  end
{%- endmacro %}


{#- Micro-units (10^-6) in one minor unit of the currency. -#}
{% macro micro_units_per_minor_unit(minor_unit) -%}
  case {{ minor_unit }} when 0 then 1000000 when 2 then 10000 when 3 then 1000 when 4 then 100 end
{%- endmacro %}


{#- round(amount / divisor) to the currency's minor unit, half away from zero, computed exactly in integer
    micro-units (decimal division returns a DOUBLE on DuckDB, which rounds 1.15 / 2 to 0.57). -#}
{% macro divide_to_minor_unit(amount, divisor, minor_unit) -%}
  {%- set micro = "cast(abs(" ~ amount ~ ") * 1000000 as bigint)" -%}
  {%- set per_unit = "cast(" ~ divisor ~ " as bigint) * " ~ micro_units_per_minor_unit(minor_unit) -%}
  {%- set minor_units = "case when " ~ amount ~ " < 0 then -1 else 1 end * "
                        ~ integer_divide("2 * " ~ micro ~ " + " ~ per_unit, "2 * " ~ per_unit) -%}
  {{ from_minor_units(minor_units, minor_unit) }}
{%- endmacro %}


{#- Minor units (an integer, as Stripe sends amounts) to an amount in the currency. -#}
{% macro from_minor_units(amount_minor, minor_unit) -%}
  {{ to_money("cast(" ~ amount_minor ~ " as " ~ money_type() ~ ") * case " ~ minor_unit
              ~ " when 0 then 1 when 2 then 0.01 when 3 then 0.001 when 4 then 0.0001 end") }}
{%- endmacro %}


{#- Integer division of non-negative bigints, truncating. -#}
{% macro integer_divide(numerator, denominator) -%}
  {{ return(adapter.dispatch('integer_divide', 'orb_finance')(numerator, denominator)) }}
{%- endmacro %}

{% macro default__integer_divide(numerator, denominator) -%}
  (({{ numerator }}) // nullif({{ denominator }}, 0))
{%- endmacro %}

{% macro spark__integer_divide(numerator, denominator) -%}
  (({{ numerator }}) div nullif({{ denominator }}, 0))
{%- endmacro %}


{#- An amount with its sign flipped for a revert (SPEC §4.6 of orb-domain: reverts subtract). -#}
{% macro signed(amount, is_revert) -%}
  case when {{ is_revert }} then -{{ amount }} else {{ amount }} end
{%- endmacro %}
