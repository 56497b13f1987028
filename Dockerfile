# The lockedbtc image: `lockedbtc run` (indexer) and `lockedbtc serve` (dashboard).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 MPLCONFIGDIR=/tmp/matplotlib

WORKDIR /app
# Only what the package needs; the editable install keeps sql/ beside indexer/, where the
# migrations are looked up.
COPY pyproject.toml README.md ./
COPY indexer ./indexer
COPY adapters ./adapters
COPY regtest ./regtest
COPY sql ./sql
RUN pip install -e . \
    && useradd --system --uid 10001 --home-dir /app lockedbtc

USER lockedbtc
EXPOSE 8080
ENTRYPOINT ["lockedbtc"]
CMD ["run"]
