// Package slurm talks to Slurm: its environment, hostlists, srun argv and
// srun's messages, and a fake srun for local runs.
package slurm
