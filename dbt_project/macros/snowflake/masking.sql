{#-
  Personal columns masked on Snowflake for every role but transformation (the policies are
  created by sql/snowflake/040_masking.sql: governance.mask_<column>).

  A rebuilt table loses its column policies, so they are attached again each time dbt builds a
  model. dbt-snowflake calls `apply_grants` at the end of every table, view, incremental and
  snapshot materialization: overriding its Snowflake implementation here (root project first in
  dbt's dispatch order) attaches the policies without a hook in any model. DuckDB never calls
  it; the fakesnow emulator has no masking policies, so its target skips them.
-#}
{% macro snowflake__apply_grants(relation, grant_config, should_revoke=True) %}
    {% do default__apply_grants(relation, grant_config, should_revoke) %}
    {% do finefinance_mask_personal_columns(relation) %}
{% endmacro %}


{% macro finefinance_mask_personal_columns(relation) %}
    {% if target.name == 'fakesnow' %}
        {% do return(none) %}
    {% endif %}
    {% set personal_columns = ['firstname', 'surname', 'email'] %}
    {% set kind = 'view' if relation.is_view else 'table' %}
    {% for column in adapter.get_columns_in_relation(relation) %}
        {% set name = column.name | lower %}
        {% if name in personal_columns %}
            {% do run_query(
                'alter ' ~ kind ~ ' ' ~ relation ~ ' modify column ' ~ adapter.quote(column.name)
                ~ ' set masking policy ' ~ relation.database ~ '.governance.mask_' ~ name ~ ' force'
            ) %}
        {% endif %}
    {% endfor %}
{% endmacro %}
