{#-
  Ingestion is at least once, and a source row is re-delivered whenever it changes: every base_
  model keeps one version per key, the one with the newest updated_at, before typing or judging
  it. One definition, so every raw table is deduplicated by the same rule.
  `relation` is the raw source (or a CTE over it); `key` the column(s) that identify a row.
-#}
{% macro latest_version(relation, key) -%}
    select *
    from {{ relation }}
    qualify row_number() over (partition by {{ key }} order by updated_at desc) = 1
{%- endmacro %}
