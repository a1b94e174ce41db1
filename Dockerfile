# One image for every Clout process: `clout worker`, `clout api`, `clout simulate`.
# It installs exactly uv.lock, like `make test` and CI (tests/unit/test_lock.py runs these steps).

# The kernel (kernel/, Rust via PyO3) as a wheel, built with the toolchain kernel/ pins and the
# maturin uv.lock pins; only the wheel leaves this stage.
FROM rust:1.95.0-slim-bookworm AS kernel
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /srv/clout
COPY scripts/uv-requirements.txt scripts/
RUN python3 -m venv /opt/uv \
    && /opt/uv/bin/pip install --no-cache-dir --require-hashes --no-deps -r scripts/uv-requirements.txt
COPY pyproject.toml uv.lock ./
COPY kernel ./kernel
RUN /opt/uv/bin/uv build --wheel --package clout-kernel --python python3 -o /srv/wheels

FROM python:3.11-slim AS build
WORKDIR /srv/clout
COPY scripts/uv-requirements.txt scripts/
RUN pip install --no-cache-dir --require-hashes --no-deps -r scripts/uv-requirements.txt
ENV UV_PROJECT_ENVIRONMENT=/opt/clout UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy UV_COMPILE_BYTECODE=1
COPY pyproject.toml uv.lock ./
COPY kernel/pyproject.toml kernel/
RUN uv sync --locked --no-editable --no-install-project --no-install-package clout-kernel
COPY README.md ./
COPY app ./app
COPY streams ./streams
RUN uv sync --locked --no-editable --no-install-package clout-kernel
COPY --from=kernel /srv/wheels /srv/wheels
RUN uv pip install --python /opt/clout/bin/python --no-deps /srv/wheels/clout_kernel-*.whl

FROM python:3.11-slim
# The worker's allocator (streams/allocator.py): `clout worker` preloads it.
RUN apt-get update && apt-get install -y --no-install-recommends libjemalloc2 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/clout /opt/clout
ENV PATH=/opt/clout/bin:$PATH CLOUT_DATA_DIR=/var/lib/clout
VOLUME /var/lib/clout
CMD ["clout", "worker"]
