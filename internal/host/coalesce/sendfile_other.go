//go:build !linux

package coalesce

// sendSection sends what is held, then the section's bytes through the
// TCP connection's own ReadFrom: only Linux has the path that sends from a
// file at an offset of our choosing.
func (c *Conn) sendSection(s *Section) (int64, error) {
	return c.readFrom(s)
}
