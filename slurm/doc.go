// Package slurm talks to real Slurm: the allocation's SLURM_* topology, hostlists, srun's argv and
// the messages srun and slurmstepd write into a step's output, and the scontrol, sinfo, squeue and
// scancel calls the supervisor makes, all through Client. Every Slurm command line and message
// format the project depends on is here, so that a change in Slurm is fixed in one place. The fake
// srun of local mode is package fakesrun, which imitates these formats through this package.
package slurm
