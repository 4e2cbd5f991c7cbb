package agent

// PoseAsVersionWithFeatures makes a advertise features f in gossip instead
// of its version's, as an older server would, so tests can run a mixed
// cluster in one process. It republishes at once.
func PoseAsVersionWithFeatures(a *Agent, f uint64) {
	a.featureOverride.Store(&f)
	a.syncLocalMeta()
}

// Feature bits for tests in package agent_test.
const (
	FeatureLeases = featureLeases
	LocalFeatures = localFeatures
)
