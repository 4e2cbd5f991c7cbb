# The agent's configuration in Kubernetes, put in the ConfigMap agent-config
# by kustomization.yaml. Every key: config.hcl.example. What differs per pod
# or per namespace comes from the StatefulSet's arguments instead (flags
# override this file): -node-id (the pod name), -advertise (the pod IP),
# -join (the headless service's SRV name) and -encrypt (the Secret).

data_dir = "/data"   # the pod's PersistentVolumeClaim (volumeClaimTemplates)
bind     = "0.0.0.0"
log_json = true

# Three servers form the cluster; autopilot never prunes below three voters
# (min_quorum defaults to bootstrap_expect).
bootstrap_expect = 3

# false: a pod stopped by a rolling restart, a node drain or an eviction
# keeps its Raft place and comes back as the same server (same pod name,
# same volume). true would remove it from Raft at every restart, shrinking
# the quorum under a rolling update. Scaling down is explained in README.md.
leave_on_terminate = false

http {
  # The kubelet's probes reach the pod IP. The API has no token here: put
  # one in (http.token) and keep this file in a Secret, or restrict port
  # 7070 with a NetworkPolicy (README.md).
  addr = "0.0.0.0:7070"
}

tls {
  enable    = true
  ca_file   = "/etc/agent/tls/ca.crt"
  cert_file = "/etc/agent/tls/tls.crt"
  key_file  = "/etc/agent/tls/tls.key"
}

autopilot {
  # A pod that is gone this long (deleted, its node lost) is removed from
  # Raft; a rolling restart takes far less.
  dead_server_reap_after = "5m"
}
