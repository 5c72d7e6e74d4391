{#-
  Customer value (docs/business-definitions.md#customer-value): the rates, the tiers and the
  definition version that marts/value/ share, so each has one home.
-#}

{#- The value vars, in a fixed order: every one enters definition_version -#}
{% macro value_var_names() -%}
    {{ return([
        'value_funds_transfer_rate', 'value_current_account_rate', 'value_overdraft_rate',
        'value_loan_funding_rate', 'value_card_interchange_rate', 'value_pea_fee_rate',
        'value_life_insurance_fee_rate', 'value_cost_per_account', 'value_cost_per_transaction',
        'value_cost_per_withdrawal', 'value_tier_core_from', 'value_tier_high_from', 'value_tier_top_from',
    ]) }}
{%- endmacro %}

{#- A value var as an exact decimal literal (a rate or an amount in EUR, at most 6 decimals) -#}
{% macro value_var(name) -%}
    cast({{ var(name) }} as decimal(18, 6))
{%- endmacro %}

{#-
  round(numerator / divisor, 2), half away from zero, computed exactly: DuckDB divides decimals in
  floating point, which can put a half cent on the wrong side (0.06 / 12 = 0.005). The quotient in
  cents is split into its whole part and its remainder with `%` (exact on decimals on both
  warehouses); the whole part is an exact multiple of the divisor, so its division is exact too.
  `divisor` is a positive integer.
-#}
{% macro divide_to_cents(numerator, divisor) -%}
    cast(
        sign({{ numerator }})
        * (
            cast((abs({{ numerator }}) * 100 - mod(abs({{ numerator }}) * 100, {{ divisor }})) / {{ divisor }} as bigint)
            + case when mod(abs({{ numerator }}) * 100, {{ divisor }}) * 2 >= {{ divisor }} then 1 else 0 end
        )
        * cast(0.01 as decimal(3, 2))
        as decimal(18, 2)
    )
{%- endmacro %}

{#- The tiers, lowest first, as (label, lower bound in EUR of contribution_12m or none) -#}
{% macro value_tiers() -%}
    {{ return([
        ('Negative', none),
        ('Low', '0'),
        ('Core', var('value_tier_core_from')),
        ('High', var('value_tier_high_from')),
        ('Top', var('value_tier_top_from')),
    ]) }}
{%- endmacro %}

{#- The tier of a twelve-month contribution: Negative below 0, then each tier from its threshold -#}
{% macro value_tier(contribution_12m) -%}
    case
        {%- for label, lower in value_tiers() | reverse %}
            {%- if lower is not none %}
        when {{ contribution_12m }} >= cast({{ lower }} as decimal(18, 2)) then '{{ label }}'
            {%- endif %}
        {%- endfor %}
        else 'Negative'
    end
{%- endmacro %}

{#- 1 (Negative) to 5 (Top); NULL for NULL -#}
{% macro value_tier_rank(tier) -%}
    case {{ tier }}
        {%- for label, lower in value_tiers() %}
        when '{{ label }}' then {{ loop.index }}
        {%- endfor %}
    end
{%- endmacro %}

{#-
  definition_version: the first 12 hex digits of the md5 of every value var (name=value, in a
  fixed order) and of every row of the regulated_savings_rates seed. Any rate, threshold or seed
  rate that changes changes it; the same definition gives the same version on both warehouses
  (rates enter the text as whole numbers of 1/100,000, never as a warehouse's decimal spelling).
  `value_definition` is bumped by hand when the SQL of the definition itself changes.
-#}
{% macro value_definition_text() -%}
    {%- set parts = ['value_definition=1'] -%}
    {%- for name in value_var_names() -%}
        {%- do parts.append(name ~ '=' ~ var(name)) -%}
    {%- endfor -%}
    {{ return(parts | join(';')) }}
{%- endmacro %}

{% macro definition_version(seed_relation) -%}
    (
        select substr(md5(concat('{{ value_definition_text() }}', '|', coalesce(
            {{ ordered_string_agg(
                "concat(account_type, ':', cast(valid_from as varchar), ':',"
                ~ " cast(cast(annual_rate * 100000 as bigint) as varchar))",
                "';'",
                'account_type, valid_from') }},
            ''))), 1, 12)
        from {{ seed_relation }}
    )
{%- endmacro %}
