# helpstream: API + workers. Without HELPSTREAM_DATABASE_URL / HELPSTREAM_REDIS_URL,
# `helpstream up` starts the embedded PostgreSQL and Redis under /data.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    HELPSTREAM_HOST=0.0.0.0 HELPSTREAM_DATA_DIR=/data
WORKDIR /app
COPY pyproject.toml README.md ./
# helpstream/ holds the core and symlinks to api/, workers/ and db/ (one import name:
# `helpstream`). load_tests/ and tests/ stay out of the image.
COPY helpstream ./helpstream
COPY api ./api
COPY workers ./workers
COPY db ./db
RUN pip install .

VOLUME /data
EXPOSE 8000
HEALTHCHECK CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"]
CMD ["helpstream", "up"]
