# The Continuum image: worker, gateway, codec endpoint, reference ERP and CRM (see docker-compose.yml).
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# An unprivileged user owns only the data directory; the code is read-only for it.
RUN groupadd --system --gid 10001 continuum \
    && useradd --system --uid 10001 --gid continuum --home-dir /app --shell /usr/sbin/nologin continuum

WORKDIR /app
COPY pyproject.toml README.md ./
COPY continuum ./continuum
COPY domain ./domain
COPY workflows ./workflows
COPY activities ./activities
COPY connectors ./connectors
COPY workers ./workers
COPY starters ./starters
COPY services ./services
COPY store ./store
RUN pip install --no-compile . \
    && mkdir -p /data \
    && chown continuum:continuum /data

USER continuum
ENV CONTINUUM_DATA_DIR=/data
# Each service of docker-compose.yml names its own command; alone, the image runs a worker.
CMD ["python", "-m", "workers"]
