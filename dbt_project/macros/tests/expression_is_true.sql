{#- Every row satisfies `expression` (e.g. statement arithmetic); the failing rows are returned -#}
{% test expression_is_true(model, expression, column_name=none) %}
    select *
    from {{ model }}
    where not ({{ expression }})
{% endtest %}
