{#-
  The arithmetic of the risk score (docs/business-definitions.md#risk-score), exact on both
  warehouses. DuckDB divides DECIMALs in floating point (1/3 is a DOUBLE), where 0.005 can come
  out as 0.00499999…, and a rounding half up would then go down: every quotient here is an exact
  integer division instead, by remainder, of DECIMAL(38, 12) values (the rules' vars have at most
  4 decimals, money 2).
-#}

{#- numerator / denominator rounded half up to `decimals` decimals, for numerator >= 0 and
    denominator > 0: floor((2 n 10^d + m) / (2 m)) / 10^d, the floor taken exactly by remainder -#}
{% macro divide_half_up(numerator, denominator, decimals=2) -%}
    {%- set numerator_exact = 'cast(' ~ numerator ~ ' as decimal(38, 12))' -%}
    {%- set denominator_exact = 'cast(' ~ denominator ~ ' as decimal(38, 12))' -%}
    {%- set dividend = '(' ~ numerator_exact ~ ' * ' ~ 2 * 10 ** decimals ~ ' + ' ~ denominator_exact ~ ')' -%}
    {%- set divisor = '(' ~ denominator_exact ~ ' * 2)' -%}
    cast(
        cast(round(({{ dividend }} - {{ dividend }} % {{ divisor }}) / {{ divisor }}, 0) as decimal(38, 0))
        / {{ 10 ** decimals }}
        as decimal(18, {{ decimals }})
    )
{%- endmacro %}

{#- Points on a straight line: 0 while value <= safe, `maximum` from value >= full, in between
    maximum x (value - safe) / (full - safe) rounded half up to 2 decimals. The value is the ratio
    `numerator` / `denominator` (denominator > 0), compared without dividing. -#}
{% macro linear_points(numerator, denominator, safe, full, maximum) -%}
    case
        when {{ numerator }} <= {{ safe }} * {{ denominator }} then cast(0 as decimal(18, 2))
        when {{ numerator }} >= {{ full }} * {{ denominator }} then cast({{ maximum }} as decimal(18, 2))
        else {{ divide_half_up(
            maximum ~ ' * (' ~ numerator ~ ' - ' ~ safe ~ ' * ' ~ denominator ~ ')',
            '(' ~ full ~ ' - ' ~ safe ~ ') * ' ~ denominator) }}
    end
{%- endmacro %}

{#- The band of a score: the last band of var risk_bands whose lowest score it reaches -#}
{% macro risk_band(score) -%}
    case
        {%- for label, lowest in var('risk_bands') | reverse %}
        when {{ score }} >= {{ lowest }} then '{{ label }}'
        {%- endfor %}
    end
{%- endmacro %}
