# fastagentic service image: one image for the API (`fastagentic run`), the workers
# (`fastagentic worker`) and schema migrations (`fastagentic store migrate`).
#
#   docker build -t fastagentic .                                   # serves the quickstart
#   docker build -t durable --build-arg APP=examples/durable/app.py .
#   docker run -p 8000:8000 fastagentic                             # SQLite under /app/.fastagentic
#   docker run durable worker app.py --store postgresql://... --concurrency 16 --health-port 8000
#
# The HEALTHCHECK asks http://127.0.0.1:8000/health/live: the API's port, and the worker's
# when started with --health-port 8000.
#
# The app is copied to /app/app.py; an app made of several modules builds FROM this image and
# copies its package into /app.  The build stage makes the wheel and a virtualenv with the
# redis, postgres and s3 extras; the final stage holds only that virtualenv and the app, runs
# as an unprivileged user, and needs no write access outside /tmp and /app/.fastagentic.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
    && python -m venv /opt/venv \
    && wheel="$(ls /wheels/fastagentic-*.whl)" \
    && /opt/venv/bin/pip install "fastagentic[redis,postgres,s3] @ file://${wheel}"

FROM ${PYTHON_IMAGE}
ARG APP=examples/quickstart/app.py
ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 fastagentic \
    && useradd --system --uid 10001 --gid fastagentic --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin fastagentic \
    && mkdir -p /app/.fastagentic \
    && chown fastagentic:fastagentic /app/.fastagentic
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY ${APP} /app/app.py
USER 10001:10001
EXPOSE 8000
# /health/live answers while the process serves; slim images have no curl.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=2)"]
ENTRYPOINT ["fastagentic"]
CMD ["run", "app.py", "--host", "0.0.0.0", "--port", "8000"]
