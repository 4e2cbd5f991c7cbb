# /etc/agent/agent.hcl for agent.service: root:agent, mode 0640 (it may hold
# the gossip key and the HTTP token). Every key: config.hcl.example.
# data_dir is given by the unit (-data-dir /var/lib/agent, its StateDirectory).

# Each machine's own address on the cluster network; or a template such as
# "{{ GetInterfaceIP \"eth0\" }}". Without it, a machine with one private
# IPv4 address advertises that one.
advertise = "10.0.0.1"

# The same list on every server; names are re-resolved at every attempt.
join             = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
bootstrap_expect = 3

# false: SIGTERM (systemctl stop, a reboot) keeps this server's Raft place,
# so it rejoins as a voter on restart. Remove a machine for good with
# `agent leave` before stopping it.
leave_on_terminate = false

http {
  addr = "127.0.0.1:7070"
}

gossip {
  encrypt = "" # `agent keygen`; the same on every machine
}

tls {
  enable    = false
  ca_file   = "/etc/agent/tls/agent-ca.pem"
  cert_file = "/etc/agent/tls/node.pem"
  key_file  = "/etc/agent/tls/node-key.pem"
}
