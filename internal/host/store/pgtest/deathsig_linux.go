package pgtest

import "syscall"

// dieWithParent has the kernel send the server SIGQUIT (PostgreSQL's
// immediate shutdown) when the test process goes, however it goes.
func dieWithParent(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGQUIT }
