package io.lorica.pipelines.scheduler;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/**
 * LMS coefficients: integrals of Lagrange basis polynomials, checked against Simpson's rule (exact for the cubic
 * polynomials of order-4 LMS) and against the closed forms of orders 1 and 2.
 */
class LmsCoefficientTest {

    private static LmsScheduler lms(int steps) {
        LmsScheduler scheduler = (LmsScheduler) Schedulers.create("lms",
                Schedulers.parse(SchedulerConfigTest.SD15));
        scheduler.setTimesteps(steps);
        return scheduler;
    }

    @Test
    void coefficientsAreExactIntegralsOfTheLagrangeBasis() {
        LmsScheduler scheduler = lms(12);
        double[] s = scheduler.sigmas();
        for (int t = 0; t < 12; t++) {
            int order = Math.min(t + 1, 4);
            for (int current = 0; current < order; current++) {
                double expected = simpson(s, order, t, current);
                assertEquals(expected, scheduler.coefficient(order, t, current),
                        1e-12 * Math.max(1, Math.abs(expected)), "t=" + t + " current=" + current);
            }
        }
    }

    @Test
    void coefficientsSumToTheStepLength() {
        // the Lagrange basis is a partition of unity: the coefficients integrate 1 over [sigma_t, sigma_t+1]
        LmsScheduler scheduler = lms(20);
        double[] s = scheduler.sigmas();
        for (int t = 0; t < 20; t++) {
            int order = Math.min(t + 1, 4);
            double sum = 0;
            for (int current = 0; current < order; current++) {
                sum += scheduler.coefficient(order, t, current);
            }
            assertEquals(s[t + 1] - s[t], sum, 1e-12 * Math.abs(s[t]), "t=" + t);
        }
    }

    @Test
    void lowOrdersHaveClosedForms() {
        LmsScheduler scheduler = lms(8);
        double[] s = scheduler.sigmas();
        assertEquals(s[1] - s[0], scheduler.coefficient(1, 0, 0), 1e-12 * Math.abs(s[0]));
        // order 2 at t = 1: basis (tau - s0) / (s1 - s0) and (tau - s1) / (s0 - s1) over [s1, s2]
        double h = s[2] - s[1];
        double expected0 = h * h / 2 / (s[1] - s[0]) + h * (s[1] - s[0]) / (s[1] - s[0]);
        double expected1 = -h * h / 2 / (s[1] - s[0]);
        assertEquals(expected0, scheduler.coefficient(2, 1, 0), 1e-12 * Math.abs(expected0));
        assertEquals(expected1, scheduler.coefficient(2, 1, 1), 1e-12 * Math.abs(expected1));
    }

    /** Simpson's rule with one panel: exact for polynomials of degree 3. */
    private static double simpson(double[] s, int order, int t, int current) {
        double a = s[t];
        double b = s[t + 1];
        return (b - a) / 6 * (basis(s, order, t, current, a) + 4 * basis(s, order, t, current, (a + b) / 2)
                + basis(s, order, t, current, b));
    }

    private static double basis(double[] s, int order, int t, int current, double tau) {
        double product = 1;
        for (int k = 0; k < order; k++) {
            if (k != current) {
                product *= (tau - s[t - k]) / (s[t - current] - s[t - k]);
            }
        }
        return product;
    }
}
