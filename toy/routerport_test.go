package toy

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestRouterPort: the port is free, and below the ephemeral range that port 0 draws from.
func TestRouterPort(t *testing.T) {
	port, err := RouterPort()
	if err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(data)); len(f) == 2 {
			lo, _ := strconv.Atoi(f[0])
			hi, _ := strconv.Atoi(f[1])
			if port >= lo && port <= hi {
				t.Errorf("port %d lies in the ephemeral range %d-%d", port, lo, hi)
			}
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("port %d is not free: %v", port, err)
	}
	defer ln.Close()
}
