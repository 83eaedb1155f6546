// Package fakesrun is the fake srun of local mode: `disagg-supervisor srun ...` (or the binary
// invoked as srun) and `run --local`, which let the whole supervisor run without a cluster.
//
// Run takes srun's command line and runs one step of a fake job with every task a local process,
// as if each node of the job were this machine. The job comes from the environment that sbatch
// would set (AllocationEnv writes one); tasks get the variables slurmstepd would give them, and
// srun's own messages are worded as Slurm 22.05 words them, so that the supervisor reads a fake
// step's log exactly as a real one's. Where the fake differs from srun on purpose (a gentler
// SIGTERM, ignored container options, no PMIx server), Run's doc comment says so;
// fakesrun_compare_test.go checks the rest against real srun on the Slurm dev cluster.
//
// The formats it imitates (hostlists, srun's failure lines, slurmstepd's cancellation notice) are
// owned by package slurm, which reads them from real Slurm too.
package fakesrun
