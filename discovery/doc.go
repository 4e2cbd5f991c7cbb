// Package discovery is the agent's gossip membership, built on
// hashicorp/memberlist. It finds the other nodes, tells who is alive, dead
// or gone, and carries each node's metadata (Meta: node ID, cluster ID, Raft
// and HTTP addresses, role, zone). It reports membership and never decides
// anything about Raft.
//
// # Lifecycle
//
// New validates the Config, creates the memberlist and listens; it joins no
// one. Start joins in the background: the seeds (host:port, IPs or DNS names,
// resolved again at every attempt, a name with several records giving several
// seeds), then the members remembered from the last run, with jittered
// exponential backoff (JoinBackoffMin..JoinBackoffMax) until one answers.
// Joining only itself does not count. A join is one push/pull, which teaches
// the joiner only what the seed knew at that moment, so about one and four
// seconds later the node makes two more: with a seed, then with a random
// live member. In a mass join that is how every member learns of the ones
// that joined after it, without waiting for gossip or for memberlist's
// periodic push/pull (every 30 s, stretched to minutes in large pools). It
// then runs a rejoin loop: every RejoinInterval, if a remembered member is
// missing or dead, it joins the seeds and up to three of the missing
// members' addresses again. That heals a partition that lasted longer than
// memberlist's memory of dead nodes (GossipToTheDeadTime), after which
// memberlist alone would never contact the other side again.
// Leave broadcasts a graceful leave and shuts down; Shutdown stops without
// one. Both stop and wait for every goroutine of the package.
//
// # Transport
//
// memberlist runs over this package's own UDP and TCP transport
// (nettransport.go), not memberlist's NetTransport, which reads every
// datagram into a fresh 64 KiB buffer that memberlist then keeps queued: in
// a mass join that garbage was a large share of the CPU and starved the
// failure detector. The wire format, socket options and metrics are
// memberlist's, so agents with either transport mix. Config.WrapTransport
// wraps it (tests inject faults there), and every outgoing stream is closed
// when the Gossip stops.
//
// # Membership
//
// Members returns live members from memberlist and, from this package's own
// table, dead and left ones until Forget or DeadRetention (72h by default,
// like serf's reconnect timeout), because the agent needs to see a dead
// server to decide when to remove it from Raft. A member that comes back
// replaces its dead entry. Since is when the status last changed as seen
// here. memberlist v0.7.0 does not expose its suspect state through its
// public API (Node.State is only filled in for merge checks), so
// StatusSuspect is reported only when memberlist provides it; today members
// go straight from alive to dead after the suspicion timeout, as in serf.
//
// # Events
//
// Events delivers join, update, leave (graceful) and fail (dead) events. The
// memberlist callbacks that produce them must never block (they run on its
// receive loop with its lock held), so events are sent without blocking and
// dropped, counted in Dropped and gossip_events_dropped_total, when the
// buffer is full. Consumers must treat events as a hint and also reconcile
// from Members on a timer.
//
// # Metadata
//
// Meta is encoded as one version byte and compact JSON with short keys; it
// must fit in MaxMetaSize (512) bytes and EncodeMeta says which field is too
// long. DecodeMeta treats its input as hostile and ignores unknown keys, so
// newer agents can add optional fields without a version bump. UpdateMeta
// changes the local Meta and broadcasts it.
//
// # Security and isolation
//
// With SecretKey set, all gossip is encrypted and authenticated (AES-GCM via
// memberlist's keyring, verification of incoming and outgoing traffic on),
// so a node with another key or none never becomes a member. When the local
// Meta.ClusterID is set, peers whose ClusterID is set and different are
// refused, both when joining (merge) and on every alive message (so a third
// node bridging two pools cannot leak one into the other); the refusal is
// logged at warn with both IDs. A node with no cluster ID yet can join any
// pool.
//
// Two live members with one node ID (a copied data dir) are refused too:
// the holder and the newcomer each log an ERROR naming the ID and both
// addresses and count it (NodeIDConflicts, gossip_node_id_conflicts_total),
// and the newcomer's join fails with ErrNodeIDConflict. A node restarted
// at a new address is not a conflict once its old address is dead; see
// conflict.go for how the two are told apart.
//
// # Keyring and rotation
//
// The keys live in memberlist's keyring: the primary encrypts what this
// node sends, and every key is tried on what it receives. With DataDir set
// the keyring is kept in DataDir/gossip/keyring.json (0600, written
// atomically before the ring changes); at start the file wins over
// SecretKey, which only seeds it, so a restart keeps rotated keys.
// ListKeys, InstallKey, UseKey and RemoveKey act on this node; KeyringOp
// acts on every live member, as Consul's keyring does: install everywhere,
// then use everywhere, then remove the old key everywhere. use and remove
// first list the keys everywhere and change nothing when a member lacks the
// key or still encrypts with it. Requests and replies are memberlist user
// messages over TCP, encrypted like all gossip; NotifyMsg only queues them
// for a worker. Requests are accepted only from a live member of this
// node's cluster that sends its current cluster ID. Only install carries a
// key; the other messages name keys by their SHA-256, and logs and errors
// show only its first 8 hex digits (KeyFingerprint).
//
// AllowUnencrypted turns verification off (clear gossip is sent and both
// forms accepted) so a running cluster can be converted to encryption one
// node at a time; it is logged as a warning, and install is refused while
// it is on because the key would travel in the clear.
//
// # Remembered members
//
// With DataDir set, the gossip addresses of known members (alive or dead, not
// left) are saved to DataDir/gossip/peers.json (mode 0600, written atomically,
// debounced, never from a memberlist callback, and on shutdown), and used to
// rejoin after a restart when the seeds are gone. A graceful Leave clears
// them.
//
// # Metrics
//
// With Registerer set: gossip_members{status} (alive, suspect, dead, left;
// computed from Members at scrape time) and gossip_events_dropped_total.
//
// Logging goes to Config.Logger.Named("gossip"); memberlist's own log lines
// are routed there too, with their levels inferred.
package discovery
