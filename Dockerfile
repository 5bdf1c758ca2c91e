# agentbench as a container (compose.yaml's `agentbench` service): the CLI installed from this checkout
# as a package (bundled suites and sandbox recipes inside it), with the docker CLI and debootstrap so that
# it builds its sandbox images on the host engine through the mounted socket.
#
# BASE is any Debian bookworm image. `make compose-build` passes the local debootstrap rootfs
# (agentbench/rootfs:<hash>, what `agentbench sandbox build rootfs` makes), so no registry is needed;
# elsewhere the default is pulled. apt and pip need the network during the build (compose.yaml builds
# with host networking); a CA bundle at build/compose/build-ca.crt (the Make target copies the host's)
# lets pip through a TLS-intercepting proxy and stays in the builder stage, out of the image.
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS runtime
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends python3 python3-venv docker.io debootstrap git ca-certificates; \
    apt-get clean; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin

FROM runtime AS builder
COPY . /src
RUN set -eux; \
    if [ -s /src/build/compose/build-ca.crt ]; then export PIP_CERT=/src/build/compose/build-ca.crt; fi; \
    python3 -m venv /opt/agentbench; \
    /opt/agentbench/bin/pip install --no-cache-dir --disable-pip-version-check /src; \
    rm -rf /src/build /src/agentbench.egg-info

FROM runtime
COPY --from=builder /opt/agentbench /opt/agentbench
COPY --from=builder /src /app
ENV PATH=/opt/agentbench/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    LANG=C.UTF-8
WORKDIR /app
ENTRYPOINT ["agentbench"]
CMD ["--help"]
