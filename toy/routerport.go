package toy

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// RouterPort is a loopback port free at this moment, for a toy router whose port must be known before
// it starts (its liveness check is written into the plan). It lies below the kernel's ephemeral range:
// the toy's workers (and anything else) bind port 0 and get ephemeral ports, and one of them took the
// router's port once it was picked there and released ("bind: address already in use").
func RouterPort() (int, error) {
	low := 32768 // Linux's default start of net.ipv4.ip_local_port_range
	if data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(data)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 11000 {
				low = n
			}
		}
	}
	var last error
	for range 64 {
		port := 10000 + rand.IntN(low-10000)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			last = err
			continue
		}
		ln.Close()
		return port, nil
	}
	return 0, fmt.Errorf("find a free port for the toy router below %d: %w", low, last)
}
