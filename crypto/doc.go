// Package crypto groups the project's cryptography: SM2 signatures (package
// sm2), the SM3 Merkle log (package merkle) and signed tree heads (package
// checkpoint). Everything beneath crypto/ is pure computation: no I/O, no
// clocks, no imports of other packages of this module.
package crypto
