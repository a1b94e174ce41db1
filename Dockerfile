# One image for every Clout process: `clout worker`, `clout api`, `clout simulate`.
FROM python:3.11-slim
WORKDIR /srv/clout
COPY pyproject.toml README.md ./
COPY app ./app
COPY streams ./streams
RUN pip install --no-cache-dir .
ENV CLOUT_DATA_DIR=/var/lib/clout
VOLUME /var/lib/clout
CMD ["clout", "worker"]
