"""Case (b) of bb_test_observers_drill_aba (its module's doc): A -> B -> A under the quorum rule, r2 failing
for A alone after B restored it and C's view silent for A: at A's re-win k 2 decides nothing and no batch at
the Route 53 peer takes r2 to 0.  Without observers_quorum_forget (daemon/observers_quorum.c: a fail drill
that stops acting here turns the region's latched quorum DOWN into unknown) A held the DOWN its own drill
latched before the cut and drained r2 on its own vote."""
from harness import run_tests
from test_observers_drill_aba import aba


def test_drill_aba_forget():
    aba(True)


if __name__ == "__main__":
    run_tests([test_drill_aba_forget])
