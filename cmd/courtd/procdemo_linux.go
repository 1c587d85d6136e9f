package main

import (
	"os/exec"
	"syscall"
)

// orphanSignal has the kernel send SIGTERM to a demo node when the demo
// itself dies, even by SIGKILL, so that no court is left running unseen.
// (Linux signals on the death of the thread that started the child; Go
// does not end its threads while goroutines run on them unlocked.)
func orphanSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
