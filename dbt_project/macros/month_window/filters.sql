{#-
  Predicates that keep a query inside the run's window. They compare with literals (not a join
  or a subquery) so the warehouse can skip the other months' data; on a full build (no window)
  they keep everything.
-#}

{#- A predicate keeping the rows of `column` (a date or a UTC timestamp) inside the window -#}
{% macro month_window_filter(column) -%}
    {%- set window = month_window() -%}
    {%- if window is none -%}
        1 = 1
    {%- else -%}
        {{ column }} >= {{ date_literal(window.start) }} and {{ column }} < {{ date_literal(window.end) }}
    {%- endif -%}
{%- endmacro %}

{#- The window and the month before it (tests comparing a month with the previous one) -#}
{% macro month_window_and_previous_filter(column) -%}
    {%- set window = month_window() -%}
    {%- if window is none -%}
        1 = 1
    {%- else -%}
        {{ column }} >= {{ date_literal(window.previous) }} and {{ column }} < {{ date_literal(window.end) }}
    {%- endif -%}
{%- endmacro %}
