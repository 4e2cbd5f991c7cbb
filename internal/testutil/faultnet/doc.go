// Package faultnet injects network faults between named nodes of a test
// cluster: symmetric partitions, one-way cuts, per-write delay on streams and
// packet loss on gossip, all driven from one *Network that tests change while
// the cluster runs.
//
// Nodes are names chosen by the test. Register maps the addresses a node
// listens on to its name; traffic to or from an address that no node
// registered is never faulted, so a wrapper can be left in place for
// unrelated connections.
//
// # Streams (Raft, agent-to-agent calls)
//
// Network.Listener and Network.Dialer wrap one node's accept and dial sides.
// Both must be wrapped on every node whose streams should see faults; the
// guarantees are then:
//
//   - a dial from A to B while A→B is blocked (a partition between them, or
//     Cut(A, B)) fails like a blackholed SYN: it blocks until the context's
//     deadline or the blackhole timeout (SetBlackholeTimeout), whichever is
//     first, and returns a timeout net.Error matching ErrBlackholed. If the
//     fault heals while the dial waits, the dial goes ahead;
//   - when a fault starts, every connection between the two nodes that it
//     newly blocks in either direction is closed, so both peers see a broken
//     stream (EOF or reset) rather than a silent hang;
//   - on a connection opened while a one-way cut is in force (B dialing A
//     under Cut(A, B)), A's writes block until the cut heals, the write
//     deadline passes (a timeout error) or the connection closes, and B's
//     writes are delivered;
//   - SetDelay(A, B, d) holds every write A makes on a stream to B for d.
//
// Each connection end is wrapped by exactly one wrapper, and each enforces
// both directions on its own: writes are held by the writing end, and reads
// of data sent across a blocked direction are held by the reading end until
// the fault heals or the read deadline passes (the data is kept, as TCP would
// retransmit it). So a connection is faulted even when only one of its ends
// is wrapped, provided that end knows the peer's node: the dialing end knows
// it from the registered address it dials; the accepting end learns it from
// the Network's record of the dialer's source address, which only a wrapped
// dialer leaves (or from a registered source address). Delay is applied by
// the writing end only, so it needs the writer wrapped.
//
// The wrappers work below TLS and below the internal/mux protocol byte: wrap
// the raw listener or a mux sub-listener, and wrap mux.Dialer.
//
// # Gossip (memberlist)
//
// Network.MemberlistTransport wraps a memberlist.NodeAwareTransport such as
// a memberlist.NetTransport. Packets to or from a node across a blocked
// direction are dropped silently (as UDP would drop them), SetLoss drops a
// share of packets, stream dials across a blocked direction fail like
// stream dials above, and the streams it opens or accepts are wrapped like
// the ones above. Register each node's gossip address (the UDP source
// address of its packets and its TCP listening address: the same host:port).
// Loss is rolled once per packet: by the sender's wrapper, or by the
// receiver's when the sender has none. The receiving side decides when it
// reads a packet from the inner transport, so a fault changed while packets
// are queued applies to them.
//
// To use it in discovery, create a memberlist.NetTransport with the bind
// settings memberlist would use (BindAddrs {BindAddr}, BindPort), set
// memberlist.Config.Transport to the wrapper over it, and set AdvertisePort
// to NetTransport.GetAutoBindPort() when BindPort is 0: memberlist only
// learns the picked port from a transport it created itself.
//
// Loss decisions come from a pseudo-random source per directed link, seeded
// from the Network's seed and the two node names, so a given seed gives the
// same drop sequence on a link however traffic on other links interleaves.
package faultnet
