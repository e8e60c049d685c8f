// The tick clock's tests again in a build that defines CASCADE_NO_TICK_CLOCK: every query is then
// timed on steady_clock, with the same results.
#include "test_tick_clock.cpp"
