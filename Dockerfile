# helpstream production image: `helpstream api` (default) or `helpstream worker` against an
# external PostgreSQL and Redis (HELPSTREAM_DATABASE_URL, HELPSTREAM_REDIS_URL). The embedded
# servers (the `embedded` extra), tests and load tests are not in it. See docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HELPSTREAM_HOST=0.0.0.0
WORKDIR /app

# Dependencies first, from pyproject.toml alone: a source change reuses this layer.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Then the source (helpstream/ holds the core and symlinks to api/, workers/ and db/).
COPY README.md ./
COPY helpstream ./helpstream
COPY api ./api
COPY workers ./workers
COPY db ./db
RUN pip install --no-cache-dir --no-deps . \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin helpstream
USER 10001

EXPOSE 8000
# The API's check; docker-compose.yml gives workers `helpstream worker --check` instead.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["helpstream", "api", "--host", "0.0.0.0", "--port", "8000"]
