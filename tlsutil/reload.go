package tlsutil

import "time"

// Reload re-reads the configured files. The new material replaces the old
// one only if every file loads and verifies; on any error the old material
// stays in force, the error is logged and returned, and nothing changes for
// new handshakes. Typically called on SIGHUP after certificates were rotated
// on disk.
func (c *Configurator) Reload() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.swapLocked(c.cfg)
}

// Update is Reload with a new Config (for example new file paths or minimum
// version). The Config is adopted only together with its material: if
// loading fails, both the old Config and the old material stay.
func (c *Configurator) Update(cfg Config) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.swapLocked(cfg); err != nil {
		return err
	}
	c.cfg = cfg
	return nil
}

// swapLocked loads cfg and stores it. c.mu must be held.
func (c *Configurator) swapLocked(cfg Config) error {
	m, err := loadMaterial(cfg, time.Now())
	if err != nil {
		c.logger.Error("tls reload failed; keeping the current certificate", "error", err)
		return err
	}
	c.current.Store(m)
	c.logLoaded(m)
	return nil
}
