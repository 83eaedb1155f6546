package main

import (
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/roles"
)

// aggregatedDemoFlags plan the aggregated demo: a fake allocation of 2 nodes with 2 GPUs each, all of
// it one SERVER of 4 ranks running the toy's aggregated mode, ready once rank 0 publishes its address.
func aggregatedDemoFlags(ws, command string) roles.Flags {
	two := 2
	f := roles.Flags{
		GPUsPerNode:  &two,
		Command:      command,
		Workspace:    ws,
		Probes:       []string{"SERVER=file:{out}/hostnames-{token}/SERVER.txt"},
		ProbeTimeout: 20 * time.Second,
	}
	f.Mode, f.TotalNodes, f.GPUsPerNodePerServer = roles.ModeAggregated, &two, &two
	return f
}
