# The agent as a scratch image: one static binary and two empty directories,
# nothing else. Build the binary first (make docker does both):
#
#   make build && docker build -t clusteragent/agent:dev .
#
# No base image is pulled, so this builds offline.

# scratch has no shell and so no mkdir, and WORKDIR creates directories owned
# by root. This stage only produces the empty directories; the COPY below
# re-owns them so the non-root user can write its data and temp files.
FROM scratch AS dirs
# The classic builder keeps this stage as an untagged image; the label lets
# whoever built it remove it by label (docker image prune --filter label=...).
LABEL io.clusteragent.stage="dirs"
WORKDIR /data
WORKDIR /tmp

FROM scratch
COPY --from=dirs --chown=65532:65532 /data /data
COPY --from=dirs --chown=65532:65532 /tmp /tmp
COPY bin/agent /agent

# Numeric, so no /etc/passwd is needed; 65532 is the usual "nonroot" ID.
USER 65532:65532
WORKDIR /data
VOLUME ["/data"]

# 7000 Raft (and agent-to-agent calls), 7946 gossip (TCP and UDP), 7070 HTTP.
EXPOSE 7000/tcp 7070/tcp 7946/tcp 7946/udp

# Binding 0.0.0.0 without -advertise makes the agent advertise its first
# private IPv4, which in a container is the container's own address. The HTTP
# API listens on every interface here so that a published port reaches it;
# publish it on loopback only (docker run -p 127.0.0.1:7070:7070).
ENTRYPOINT ["/agent"]
CMD ["run", "-bind", "0.0.0.0", "-data-dir", "/data", "-http-addr", "0.0.0.0:7070"]
