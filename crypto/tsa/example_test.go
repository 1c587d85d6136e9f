package tsa_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/courtledger/courtledger/court/devtsa"
	"github.com/courtledger/courtledger/crypto/tsa"
)

// A court stamps a signed tree head's note text and keeps the token; a
// verifier, offline, checks the token against the TSA's root and the
// head's time.
func Example() {
	dev, _ := devtsa.New("example TSA") // a national TSA's URL in production
	srv := httptest.NewServer(dev.Handler())
	defer srv.Close()

	note := []byte("hangzhou.court.example/evidence\n42\nq1aJ8C1b6cZl0O1bdQ0aJwWb2W3b5p1k3YB+N6r5gmY=\ntime-ms 1764763200000\n")
	headTime := time.Now()

	client, err := tsa.NewClient(tsa.ClientConfig{URL: srv.URL, Policy: devtsa.Policy})
	if err != nil {
		fmt.Println(err)
		return
	}
	token, err := client.Stamp(context.Background(), note)
	if errors.Is(err, tsa.ErrUnavailable) {
		fmt.Println("TSA down: try again later, with the newest head")
		return
	} else if err != nil {
		fmt.Println(err) // a TSA that misbehaves: raise an alarm
		return
	}

	anchors, err := tsa.ParseAnchors(dev.RootPEM()) // tsa-root.pem, from the trust file
	if err != nil {
		fmt.Println(err)
		return
	}
	info, err := tsa.Verify(token, note, tsa.VerifyOptions{
		Anchors: anchors, Policy: devtsa.Policy, Expected: headTime, Tolerance: time.Minute,
	})
	if err != nil {
		fmt.Println("refused:", err)
		return
	}
	fmt.Printf("timestamped by %s (%s, policy %s)\n", info.TSA, info.Hash, info.Policy)

	_, err = tsa.Verify(token, []byte("another head\n"), tsa.VerifyOptions{Anchors: anchors})
	fmt.Println(errors.Is(err, tsa.ErrImprint))
	// Output:
	// timestamped by example TSA (SHA-256, policy 1.3.6.1.4.1.32473.3161.1)
	// true
}
