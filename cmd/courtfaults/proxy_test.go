package main

import (
	"io"
	"net"
	"testing"
	"time"
)

func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

// roundTrip sends one byte through c and waits up to limit for the echo.
func roundTrip(c net.Conn, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	c.SetDeadline(start.Add(limit))
	if _, err := c.Write([]byte{7}); err != nil {
		return 0, err
	}
	_, err := io.ReadFull(c, make([]byte, 1))
	return time.Since(start), err
}

// The proxy delays each direction, stalls a blocked direction, and after
// the heal closes the connections that lost bytes; new ones work.
func TestNetwork(t *testing.T) {
	nw := newNetwork()
	defer nw.close()
	addr := nw.link("a", "b", "raft", echoServer(t), 40*time.Millisecond)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if d, err := roundTrip(c, 5*time.Second); err != nil || d < 80*time.Millisecond {
		t.Fatalf("round trip %v (%v), want at least 2 x 40 ms", d, err)
	}

	nw.block("b", "a") // one way: the answers are lost
	if d, err := roundTrip(c, 500*time.Millisecond); err == nil {
		t.Fatalf("an answer came through a blocked direction after %v", d)
	}
	nw.heal()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("a connection that lost bytes stayed open after the heal")
		}
	}
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := roundTrip(c2, 5*time.Second); err != nil {
		t.Fatalf("after the heal: %v", err)
	}

	nw.setImpair(func(src, dst, kind string) shape { return shape{delay: 100 * time.Millisecond} })
	if d, err := roundTrip(c2, 5*time.Second); err != nil || d < 280*time.Millisecond {
		t.Fatalf("impaired round trip %v (%v), want at least 2 x 140 ms", d, err)
	}
}
