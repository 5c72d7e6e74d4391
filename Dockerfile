# One image for the whole Dagster deployment (docker-compose.yml): the code location
# (`dagster code-server`), the webserver and the daemon, plus one-shot commands
# (`finefinance source start` migrates the operational PostgreSQL).
# The environment is the locked one (uv.lock), exactly what CI tests.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/venv

# the uv version the Makefile uses
RUN pip install --no-cache-dir "uv==0.13.9" \
    && useradd --create-home --uid 10001 finefinance

WORKDIR /opt/finefinance

# dependencies first: this layer changes only with the lock file
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project

COPY finefinance_platform ./finefinance_platform
COPY dbt_project ./dbt_project
COPY sql ./sql
COPY seeds ./seeds
COPY deploy ./deploy
# the project installs editable (uv's default): the package finds dbt_project/ and sql/ beside it
RUN uv sync --frozen --no-dev

ENV PATH=/opt/venv/bin:$PATH \
    DAGSTER_HOME=/opt/dagster/home \
    FINEFINANCE_HOME=/var/lib/finefinance

# The dbt manifest is built here, once per image: without `dagster dev` nothing prepares it at
# run time. Parsing connects to nothing; the placeholders only satisfy the profile's env_var()s.
RUN cd dbt_project \
    && FINEFINANCE_SNOWFLAKE_ACCOUNT=parse-only FINEFINANCE_SNOWFLAKE_PRIVATE_KEY_PATH=/dev/null \
       FINEFINANCE_DUCKDB_PATH=/tmp/parse.duckdb \
       dbt parse --profiles-dir . --target snowflake --quiet \
    && rm -rf logs

RUN mkdir -p "$DAGSTER_HOME" "$FINEFINANCE_HOME" \
    && cp deploy/dagster.yaml "$DAGSTER_HOME/dagster.yaml" \
    && chown -R finefinance "$DAGSTER_HOME" "$FINEFINANCE_HOME" /opt/finefinance/dbt_project

USER finefinance
EXPOSE 3000 4000
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", \
     "-m", "finefinance_platform.definitions", "-a", "defs", "--location-name", "finefinance"]
