//go:build !linux

package main

import "os/exec"

// orphanSignal: only Linux can signal a child when its parent dies; here a
// demo killed by SIGKILL leaves its nodes running (stop them with
// `courtd demo stop`).
func orphanSignal(*exec.Cmd) {}
