"""Treasury: the transactions we sign and send (withdrawals, gas top-ups, sweeps), the sweeper."""
