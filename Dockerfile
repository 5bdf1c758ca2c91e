# agentbench as a container (compose.yaml's `agentbench` service): the CLI, with the docker CLI and
# debootstrap so that it builds its sandbox images on the host engine through the mounted socket.
# Built FROM a registry image: where no registry is reachable, use `make setup` on the host instead.
FROM python:3.11-slim-bookworm

RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends docker.io debootstrap git ca-certificates; \
    rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY agentbench ./agentbench
COPY graphs ./graphs
RUN pip install --no-cache-dir .
COPY . .

ENTRYPOINT ["agentbench"]
CMD ["--help"]
