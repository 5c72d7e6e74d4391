{#-
  Personal columns masked on Snowflake for every role but transformation (the policies are
  created by sql/snowflake/040_masking.sql: governance.mask_<column>).

  A rebuilt table loses its column policies, so they are attached again each time dbt builds a
  model. dbt-snowflake calls `apply_grants` at the end of every table, view, incremental and
  snapshot materialization: overriding its Snowflake implementation here (root project first in
  dbt's dispatch order) attaches the policies without a hook in any model. DuckDB never calls
  it; the fakesnow emulator has no masking policies, so it only lists what it would run.
-#}
{% macro snowflake__apply_grants(relation, grant_config, should_revoke=True) %}
    {% do default__apply_grants(relation, grant_config, should_revoke) %}
    {% do finefinance_mask_personal_columns(relation) %}
{% endmacro %}


{#- The statements attaching each personal column's policy; `force` replaces an earlier one -#}
{% macro finefinance_masking_statements(relation) %}
    {% set personal_columns = ['firstname', 'surname', 'email'] %}
    {% set kind = 'view' if relation.is_view else 'table' %}
    {% set statements = [] %}
    {% for column in adapter.get_columns_in_relation(relation) %}
        {% set name = column.name | lower %}
        {% if name in personal_columns %}
            {% do statements.append(
                'alter ' ~ kind ~ ' ' ~ relation ~ ' modify column ' ~ adapter.quote(column.name)
                ~ ' set masking policy ' ~ relation.database ~ '.governance.mask_' ~ name ~ ' force'
            ) %}
        {% endif %}
    {% endfor %}
    {{ return(statements) }}
{% endmacro %}


{% macro finefinance_mask_personal_columns(relation) %}
    {% if is_snowflake_emulator() %}
        {% do return(none) %}
    {% endif %}
    {% for statement in finefinance_masking_statements(relation) %}
        {% do run_query(statement) %}
    {% endfor %}
{% endmacro %}


{#- `dbt run-operation show_masking_statements --args '{schema: marts, identifier: dim_customer}'` -#}
{% macro show_masking_statements(schema, identifier) %}
    {% set relation = adapter.get_relation(database=target.database, schema=schema, identifier=identifier) %}
    {% if relation is none %}
        {{ exceptions.raise_compiler_error("no relation " ~ schema ~ "." ~ identifier ~ " in " ~ target.database) }}
    {% endif %}
    {% for statement in finefinance_masking_statements(relation) %}
        {{ print(statement) }}
    {% endfor %}
{% endmacro %}
