# One image for every Clout process: `clout worker`, `clout api`, `clout simulate`.
# It installs exactly uv.lock, like `make test` and CI (tests/unit/test_lock.py runs these steps).
FROM python:3.11-slim AS build
WORKDIR /srv/clout
COPY scripts/uv-requirements.txt scripts/
RUN pip install --no-cache-dir --require-hashes --no-deps -r scripts/uv-requirements.txt
ENV UV_PROJECT_ENVIRONMENT=/opt/clout UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy UV_COMPILE_BYTECODE=1
COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-editable --no-install-project
COPY README.md ./
COPY app ./app
COPY streams ./streams
RUN uv sync --locked --no-editable

FROM python:3.11-slim
COPY --from=build /opt/clout /opt/clout
ENV PATH=/opt/clout/bin:$PATH CLOUT_DATA_DIR=/var/lib/clout
VOLUME /var/lib/clout
CMD ["clout", "worker"]
