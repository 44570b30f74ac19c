//! The numeric oracles of the seeds digest (`shared/spec/seeds-digest.md` §3.1–§3.3), checked
//! against the diffusion core.
//!
//! Every reference value below is the full-precision float64 result of the digest's own formulas,
//! recomputed with python3 (a private extension of `shared/spec/oracles.py`, printed with `repr`).
//! A 50-digit mpmath recomputation from the same float64 β's agrees with every one of them to
//! ≤ 1e-11 relative, so the references carry far more accuracy than the 1e-9 checked here.
//! Where the digest prints a value, the printed string sits next to the reference, and
//! [`check`] also asserts that the reference rounds to it (within half a unit in the last printed
//! digit), so a typo in a hard-coded number cannot slip through.
#![allow(clippy::unwrap_used)]

use diffusion_lab::diffusion::{
    DdpmVariance, Posterior, SamplerKind, SamplerPlan, ScheduleKind, ScheduleSpec, ScheduleTable,
    Spacing, Step, StepOutput, StrideRule, Update, ddim_sigma, iddpm_timesteps, process,
    strided_timesteps,
};

/// A full-precision reference and the digest's printed value.
type Printed = (f64, &'static str);

/// The relative tolerance between the core and a full-precision float64 reference.
const REL: f64 = 1e-9;

/// Half a unit in the last digit of a printed decimal, e.g. "1.1991992e-4" → 0.5e-11.
fn half_unit(printed: &str) -> f64 {
    let lower = printed.to_ascii_lowercase();
    let (mantissa, exponent) = match lower.split_once('e') {
        Some((m, e)) => (m.to_owned(), e.parse::<i32>().unwrap()),
        None => (lower.clone(), 0),
    };
    let decimals = mantissa.split_once('.').map_or(0, |(_, d)| d.len() as i32);
    0.5 * 10f64.powi(exponent - decimals)
}

#[track_caller]
fn close_rel(what: &str, got: f64, want: f64, rel: f64) {
    if want == 0.0 {
        assert_eq!(got, 0.0, "{what}: got {got:e}, want exactly 0");
    } else {
        let err = (got - want).abs() / want.abs();
        assert!(
            err <= rel,
            "{what}: got {got:?}, want {want:?} (relative error {err:.2e} > {rel:e})"
        );
    }
}

/// `got` (the core) must match `full` (python3 float64, full precision) to [`REL`], and `full`
/// must round to what the digest prints.
#[track_caller]
fn check(what: &str, got: f64, full: f64, printed: &str) {
    let p: f64 = printed.parse().unwrap();
    assert!(
        (full - p).abs() <= half_unit(printed) * (1.0 + 1e-9),
        "{what}: the hard-coded reference {full:?} does not round to the digest's {printed}"
    );
    close_rel(what, got, full, REL);
}

fn linear(steps: usize) -> ScheduleTable {
    ScheduleSpec::new(ScheduleKind::Linear, steps)
        .table()
        .unwrap()
}

fn cosine(steps: usize) -> ScheduleTable {
    ScheduleSpec::new(ScheduleKind::Cosine, steps)
        .table()
        .unwrap()
}

/// Runs one step on a single value: returns (x_{t'}, x̂₀, ε̂ used, σ·z).
fn apply_one(step: &Step, xt: f64, eps: f64, z: f64) -> (f64, f64, f64, f64) {
    let (mut next, mut x0, mut e, mut noise) = ([0.0], [0.0], [0.0], [0.0]);
    step.apply(
        &[xt],
        &[eps],
        &[z],
        false,
        &mut next,
        StepOutput {
            x0: &mut x0,
            eps: &mut e,
            noise: &mut noise,
        },
    );
    (next[0], x0[0], e[0], noise[0])
}

fn find_step(plan: &SamplerPlan, t: usize) -> Step {
    *plan.steps.iter().find(|s| s.t == t).unwrap()
}

// ---------------------------------------------------------------------------------------------
// §3.1 linear schedule, β 1e-4 → 0.02, T = 1000
// ---------------------------------------------------------------------------------------------

/// One row of the §3.1 table: (full-precision reference, digest's printed value).
struct Row {
    t: usize,
    beta: Printed,
    abar: Printed,
    sqrt_abar: Printed,
    sqrt_om: Printed,
    snr: Printed,
    lnsnr: Printed,
}

#[rustfmt::skip]
const LINEAR_ROWS: [Row; 10] = [
    Row { t: 1,
        beta: (0.0001, "1.0e-4"),
        abar: (0.9999, "0.9999"),
        sqrt_abar: (0.9999499987499375, "0.99995"),
        sqrt_om: (0.009999999999999449, "0.01"),
        snr: (9999.0000000011, "9999"),
        lnsnr: (9.21024036697596, "9.210240"),
    },
    Row { t: 2,
        beta: (0.00011991991991991993, "1.1991992e-4"),
        abar: (0.9997800920720721, "0.9997800921"),
        sqrt_abar: (0.9998900399904342, "0.99989004"),
        sqrt_om: (0.014829292900469677, "0.0148292929"),
        snr: (4546.357657463682, "4546.358"),
        lnsnr: (8.422081676518744, "8.422082"),
    },
    Row { t: 10,
        beta: (0.0002792792792792793, "2.7927928e-4"),
        abar: (0.9981052047858344, "0.9981052048"),
        sqrt_abar: (0.999052153186126, "0.99905215"),
        sqrt_om: (0.043529245504207614, "0.0435292455"),
        snr: (526.7615187773077, "526.7615"),
        lnsnr: (6.26674792008129, "6.266748"),
    },
    Row { t: 50,
        beta: (0.0010760760760760762, "1.0760761e-3"),
        abar: (0.9710157229394402, "0.9710157229"),
        sqrt_abar: (0.9854013004555252, "0.9854013"),
        sqrt_om: (0.1702476932606132, "0.1702476933"),
        snr: (33.50146429081522, "33.50146"),
        lnsnr: (3.5115891480493477, "3.511589"),
    },
    Row { t: 100,
        beta: (0.002072072072072072, "2.0720721e-3"),
        abar: (0.89701814567496, "0.8970181457"),
        sqrt_abar: (0.9471104189454153, "0.94711042"),
        sqrt_om: (0.3209078595563531, "0.3209078596"),
        snr: (8.710448569353932, "8.710449"),
        lnsnr: (2.1645232900381837, "2.164523"),
    },
    Row { t: 250,
        beta: (0.00506006006006006, "5.0600601e-3"),
        abar: (0.5240853738253606, "0.5240853738"),
        sqrt_abar: (0.7239374101573703, "0.72393741"),
        sqrt_om: (0.689865658062959, "0.6898656581"),
        snr: (1.101217203677713, "1.101217"),
        lnsnr: (0.0964161168283882, "0.096416"),
    },
    Row { t: 500,
        beta: (0.01004004004004004, "1.004004e-2"),
        abar: (0.07858724288177821, "0.07858724288"),
        sqrt_abar: (0.28033416288739804, "0.28033416"),
        sqrt_om: (0.9599024727117969, "0.9599024727"),
        snr: (0.08528994446263682, "0.08528994"),
        lnsnr: (-2.4616987158104724, "-2.461699"),
    },
    Row { t: 750,
        beta: (0.01502002002002002, "1.502002e-2"),
        abar: (0.003350550438936774, "0.003350550439"),
        sqrt_abar: (0.0578839393868176, "0.057883939"),
        sqrt_om: (0.9983233191511973, "0.9983233192"),
        snr: (0.0033618143675415643, "3.3618e-3"),
        lnsnr: (-5.695274460409593, "-5.695274"),
    },
    Row { t: 900,
        beta: (0.018008008008008006, "1.8008008e-2"),
        abar: (0.0002752059119033984, "2.752059119e-4"),
        sqrt_abar: (0.01658933126751643, "0.016589331"),
        sqrt_om: (0.9998623875754585, "0.9998623876"),
        snr: (0.0002752816710467091, "2.7528e-4"),
        lnsnr: (-8.197715726140709, "-8.197716"),
    },
    Row { t: 1000,
        beta: (0.02, "0.02"),
        abar: (4.0358297653756754e-05, "4.035829765e-05"),
        sqrt_abar: (0.006352818087570016, "0.0063528181"),
        sqrt_om: (0.99997982064757, "0.9999798206"),
        snr: (4.03599265116842e-05, "4.0360e-5"),
        lnsnr: (-10.117673183301035, "-10.117673"),
    },
];

#[test]
fn linear_t1000_table_rows() {
    let table = linear(1000);
    assert_eq!(table.steps(), 1000);
    for row in &LINEAR_ROWS {
        let i = row.t - 1;
        let t = row.t;
        check(&format!("beta_{t}"), table.beta[i], row.beta.0, row.beta.1);
        close_rel(&format!("alpha_{t}"), table.alpha[i], 1.0 - row.beta.0, REL);
        check(
            &format!("alpha_bar_{t}"),
            table.alpha_bar[i],
            row.abar.0,
            row.abar.1,
        );
        check(
            &format!("alpha_bar_at({t})"),
            table.alpha_bar_at(t),
            row.abar.0,
            row.abar.1,
        );
        check(
            &format!("sqrt_alpha_bar_{t}"),
            table.sqrt_alpha_bar[i],
            row.sqrt_abar.0,
            row.sqrt_abar.1,
        );
        check(
            &format!("sqrt_one_minus_alpha_bar_{t}"),
            table.sqrt_one_minus_alpha_bar[i],
            row.sqrt_om.0,
            row.sqrt_om.1,
        );
        close_rel(
            &format!("one_minus_alpha_bar_{t}"),
            table.one_minus_alpha_bar[i],
            row.sqrt_om.0 * row.sqrt_om.0,
            REL,
        );
        check(&format!("snr_{t}"), table.snr[i], row.snr.0, row.snr.1);
        check(
            &format!("log_snr_{t}"),
            table.log_snr[i],
            row.lnsnr.0,
            row.lnsnr.1,
        );
        let rates = diffusion_lab::diffusion::Rates::at(&table, t);
        check(
            &format!("Rates::at({t}).signal"),
            rates.signal,
            row.sqrt_abar.0,
            row.sqrt_abar.1,
        );
        check(
            &format!("Rates::at({t}).noise"),
            rates.noise,
            row.sqrt_om.0,
            row.sqrt_om.1,
        );
    }
    // ᾱ₀ = 1 and 1 − ᾱ₀ = 0 by convention (digest §2).
    assert_eq!(table.alpha_bar_at(0), 1.0);
    assert_eq!(table.one_minus_alpha_bar_at(0), 0.0);
}

#[test]
fn linear_beta_tilde_over_beta() {
    let table = linear(1000);
    // (t, β̃_t/β_t full precision, digest).
    let ratios = [
        (1, 0.0, "0"),
        (2, 0.4547357657463181, "0.45474"),
        (10, 0.8528453254323641, "0.85285"),
        (100, 0.9819138469716402, "0.98191"),
        (1000, 0.9999991763280305, "0.99999918"),
    ];
    for (t, full, printed) in ratios {
        check(
            &format!("beta_tilde_{t}/beta_{t}"),
            table.beta_tilde[t - 1] / table.beta[t - 1],
            full,
            printed,
        );
        check(
            &format!("posterior_variance({t})/beta_{t}"),
            process::posterior_variance(&table, t) / table.beta[t - 1],
            full,
            printed,
        );
    }
    // β̃₁ = 0 exactly, so the last DDPM step adds no noise.
    assert_eq!(table.beta_tilde[0], 0.0);
}

#[test]
fn linear_thresholds_sum_and_badge() {
    let table = linear(1000);
    let first_below = |thr: f64| table.alpha_bar.iter().position(|&a| a < thr).map(|i| i + 1);
    assert_eq!(first_below(0.5), Some(260));
    assert_eq!(first_below(0.1), Some(476));
    assert_eq!(first_below(0.01), Some(674));
    assert_eq!(first_below(0.001), Some(826));
    // Σβ = 10.05 and e^{−Σβ} = 4.3186e-5 (the approximation ᾱ_T ≈ e^{−Σβ}).
    let sum: f64 = table.beta.iter().sum();
    check("sum beta", sum, 10.05, "10.05");
    check(
        "exp(-sum beta)",
        (-sum).exp(),
        4.3185749060341275e-05,
        "4.3186e-05",
    );
    // ᾱ_T = Π(1 − β) < e^{−Σβ} since 1 − β < e^{−β}.
    assert!(table.alpha_bar[999] < (-sum).exp());

    let badges = table.badges();
    assert_eq!(
        badges.first_t_alpha_bar_below_half,
        Some(260),
        "linear badge: first t with ᾱ < ½"
    );
    check(
        "badge alpha_bar_final",
        badges.alpha_bar_final,
        4.0358297653756754e-05,
        "4.035829765e-05",
    );
    check(
        "badge snr_final",
        badges.snr_final,
        4.03599265116842e-05,
        "4.0360e-5",
    );
    assert!(badges.beta_strictly_inside_unit);
    assert!(badges.alpha_bar_strictly_decreasing);
}

#[test]
fn linear_prior_kl_l_t() {
    let table = linear(1000);
    // L_T = ½(ᾱ_T x₀² + (1 − ᾱ_T) − 1 − ln(1 − ᾱ_T)). The python reference uses log1p to avoid the
    // cancellation (for x₀ = 0 the value is ≈ ᾱ_T²/2); mpmath agrees to 4e-12 relative.
    check(
        "KL x0=0 (nats)",
        process::prior_kl(&table, 0.0),
        4.072090035874248e-10,
        "4.07e-10",
    );
    check(
        "KL x0=1 (nats)",
        process::prior_kl(&table, 1.0),
        2.0179556035881964e-05,
        "2.018e-5",
    );
    check(
        "KL x0=1 (bits)",
        process::prior_kl(&table, 1.0) / std::f64::consts::LN_2,
        2.911294542030786e-05,
        "2.91e-5",
    );
}

#[test]
fn linear_posterior_coefficients_t500() {
    let table = linear(1000);
    let p = Posterior::at(&table, 500);
    check(
        "coef_x0 at 500",
        p.coef_x0,
        0.0030700711142649766,
        "0.003070071114",
    );
    check(
        "coef_xt at 500",
        p.coef_xt,
        0.9941066702101666,
        "0.9941066702",
    );
    check(
        "posterior beta at 500",
        p.beta,
        0.01004004004004004,
        "1.004004e-2",
    );
    check(
        "posterior variance at 500",
        p.variance.sqrt(),
        0.10015665437011008,
        "0.1001567",
    );
    // ε-form coefficients 1/√α and β/√(1 − ᾱ), from the table.
    check(
        "1/sqrt(alpha_500)",
        1.0 / table.alpha[499].sqrt(),
        1.0050581399940977,
        "1.00505814",
    );
    check(
        "beta/sqrt(1-abar) at 500",
        table.beta[499] / table.sqrt_one_minus_alpha_bar[499],
        0.01045943762565396,
        "0.01045943763",
    );
    // A one-step jump through `between` is the ordinary posterior.
    assert_eq!(Posterior::between(&table, 500, 499), p);
}

#[test]
fn linear_ddpm_mean_x0hat_sigma_score_t500() {
    let table = linear(1000);
    let (xt, eps) = ([0.5_f64], [0.1_f64]);
    let (mean_full, mean_printed) = (0.5014778357045064, "0.50147784");

    let mut mean_eps = [0.0];
    process::mean_from_eps(&table, 500, &xt, &eps, &mut mean_eps);
    check("mean (eps-form)", mean_eps[0], mean_full, mean_printed);

    let mut x0hat = [0.0];
    process::x0_from_eps(&table, 500, &xt, &eps, &mut x0hat);
    check("x0hat at 500", x0hat[0], 1.4411720233009886, "1.44117202");

    let mut mean_x0 = [0.0];
    process::posterior_mean(&table, 500, &x0hat, &xt, &mut mean_x0);
    check(
        "mean (x0-form, mu~ with x0hat)",
        mean_x0[0],
        mean_full,
        mean_printed,
    );

    let mut score = [0.0];
    process::score_from_eps(&table, 500, &eps, &mut score);
    check(
        "score at 500",
        score[0],
        -0.10417725012989337,
        "-0.10417725",
    );

    // The DDPM sampler step at t = 500: mean with z = 0, σ = √β or √β̃.
    for (variance, sigma_full, sigma_printed) in [
        (DdpmVariance::Beta, 0.1002000001998006, "0.1002000"),
        (DdpmVariance::BetaTilde, 0.10015665437011008, "0.1001567"),
    ] {
        let plan = SamplerPlan::new(&table, SamplerKind::Ddpm { variance }).unwrap();
        let step = find_step(&plan, 500);
        assert_eq!(step.t_prev, 499);
        check(
            &format!("{variance:?} sigma_500"),
            step.sigma,
            sigma_full,
            sigma_printed,
        );
        let (next, x0, e, noise) = apply_one(&step, xt[0], eps[0], 0.0);
        check(
            &format!("{variance:?} step mean"),
            next,
            mean_full,
            mean_printed,
        );
        check(
            &format!("{variance:?} step x0hat"),
            x0,
            1.4411720233009886,
            "1.44117202",
        );
        assert_eq!(e, eps[0]);
        assert_eq!(noise, 0.0);
        let (next1, _, _, noise1) = apply_one(&step, xt[0], eps[0], 1.0);
        close_rel("step noise with z = 1", noise1, sigma_full, REL);
        close_rel("step with z = 1", next1, mean_full + sigma_full, REL);
    }
}

#[test]
fn linear_ddim_consecutive_eta1_is_sqrt_beta_tilde() {
    let table = linear(1000);
    check(
        "ddim_sigma(500, 499, 1)",
        ddim_sigma(&table, 500, 499, 1.0),
        0.10015665437010986,
        "0.100156654",
    );
    check(
        "sqrt(beta_tilde_500)",
        table.beta_tilde[499].sqrt(),
        0.10015665437011008,
        "0.100156654",
    );
    // The same σ in a full DDIM plan over S = T steps.
    let kind = SamplerKind::Ddim {
        steps: 1000,
        eta: 1.0,
        spacing: Spacing::Linspace,
    };
    let plan = SamplerPlan::new(&table, kind).unwrap();
    assert_eq!(plan.steps.len(), 1000);
    let step = find_step(&plan, 500);
    assert_eq!(step.t_prev, 499);
    check(
        "DDIM plan sigma at 500",
        step.sigma,
        0.10015665437010986,
        "0.100156654",
    );
    // η scales σ linearly.
    close_rel(
        "ddim_sigma eta = 0.5",
        ddim_sigma(&table, 500, 499, 0.5),
        0.5 * 0.10015665437010986,
        REL,
    );
    assert_eq!(ddim_sigma(&table, 500, 499, 0.0), 0.0);
}

#[test]
fn linear_ddim_stride_600_to_500() {
    let table = linear(1000);
    check(
        "alpha_bar_600",
        table.alpha_bar_at(600),
        0.025879389423334884,
        "0.025879389",
    );
    // Trailing spacing with S = 10 visits 1000, 900, …, 100, so it has the jump 600 → 500.
    let plan = |eta: f64| {
        SamplerPlan::new(
            &table,
            SamplerKind::Ddim {
                steps: 10,
                eta,
                spacing: Spacing::Trailing,
            },
        )
        .unwrap()
    };

    // η = 0: deterministic; x̂₀ = 2.49456486, x_500 = 0.79530200.
    let step = find_step(&plan(0.0), 600);
    assert_eq!(step.t_prev, 500);
    assert_eq!(step.sigma, 0.0);
    assert!(!step.is_stochastic());
    close_rel(
        "step sqrt_alpha_bar (600)",
        step.sqrt_alpha_bar,
        0.16087072270408587,
        REL,
    );
    close_rel(
        "step sqrt_one_minus (600)",
        step.sqrt_one_minus_alpha_bar,
        0.9869754863099007,
        REL,
    );
    check(
        "step alpha_bar_prev (500)",
        step.alpha_bar_prev,
        0.07858724288177821,
        "0.07858724288",
    );
    let (x500, x0, e, _) = apply_one(&step, 0.5, 0.1, 123.0);
    check(
        "DDIM eta=0 x0hat (600)",
        x0,
        2.4945648569453307,
        "2.49456486",
    );
    check("DDIM eta=0 x_500", x500, 0.7953019982112708, "0.79530200");
    assert_eq!(e, 0.1);

    // η = 1 on the stride: σ = 0.79649377 (001 eq. 148), not 004's single-step 0.10668178 (E004-4).
    let sigma = ddim_sigma(&table, 600, 500, 1.0);
    check(
        "ddim_sigma(600, 500, 1)",
        sigma,
        0.7964937695480695,
        "0.79649377",
    );
    let wrong_004 = (table.beta[599] * table.one_minus_alpha_bar_at(500)
        / table.one_minus_alpha_bar_at(600))
    .sqrt();
    check(
        "004's erroneous form",
        wrong_004,
        0.10668177524613391,
        "0.10668178",
    );
    assert!((sigma - wrong_004).abs() > 0.5);

    let step1 = find_step(&plan(1.0), 600);
    check(
        "plan eta=1 sigma 600→500",
        step1.sigma,
        0.7964937695480695,
        "0.79649377",
    );
    // x' = √ᾱ_500·x̂₀ + √(1 − ᾱ_500 − σ²)·ε̂ + σz, with √(1 − ᾱ_500 − σ²) = 0.5357335458876255
    // (python3).
    let (x_z0, _, _, _) = apply_one(&step1, 0.5, 0.1, 0.0);
    close_rel("DDIM eta=1 x_500 (z=0)", x_z0, 0.7528851055288537, REL);
    let (x_z1, _, _, noise) = apply_one(&step1, 0.5, 0.1, 1.0);
    close_rel("DDIM eta=1 x_500 (z=1)", x_z1, 1.5493788750769233, REL);
    close_rel("DDIM eta=1 noise", noise, 0.7964937695480695, REL);
}

#[test]
fn linear_iddpm_strided_posterior_600_to_500() {
    // Seed 004 Method 5.1 on the jump 600 → 500: α' = ᾱ_600/ᾱ_500, β' = 1 − α',
    // β̃' = (1 − ᾱ_500)/(1 − ᾱ_600)·β' (python3 float64 references; not printed in the digest).
    let table = linear(1000);
    let p = Posterior::between(&table, 600, 500);
    close_rel("beta' 600→500", p.beta, 0.6706922335694326, REL);
    close_rel("coef_x0 600→500", p.coef_x0, 0.1930130045615833, REL);
    close_rel("coef_xt 600→500", p.coef_xt, 0.5428032948321986, REL);
    close_rel("beta_tilde' 600→500", p.variance, 0.6344023249288931, REL);
    // β̃' is the DDIM η = 1 variance of the same jump, 0.79649377² (digest §3.1).
    close_rel(
        "beta_tilde' = ddim sigma²",
        p.variance,
        0.7964937695480695_f64.powi(2),
        REL,
    );
    // With x_t = 0.5 and ε̂ = 0.1 the strided mean equals DDIM η = 1's deterministic part.
    let x0hat = 2.4945648569453307;
    close_rel(
        "iDDPM mean 600→500",
        p.coef_x0 * x0hat + p.coef_xt * 0.5,
        0.7528851055288537,
        REL,
    );
}

#[test]
fn linear_forward_samples() {
    let table = linear(1000);
    let mut out = [0.0];
    process::q_sample(&table, 1000, &[1.0], &[0.0], &mut out);
    check(
        "q_sample t=1000 x0=1 eps=0",
        out[0],
        0.006352818087570016,
        "0.0063528181",
    );
    process::q_sample(&table, 500, &[1.0], &[0.0], &mut out);
    check(
        "q_sample t=500 x0=1 eps=0",
        out[0],
        0.28033416288739804,
        "0.28033416",
    );
    process::q_sample(&table, 500, &[1.0], &[1.0], &mut out);
    check(
        "q_sample t=500 x0=1 eps=1",
        out[0],
        1.240236635599195,
        "1.24023664",
    );
    // The same in f32 data (coefficients stay f64, the result is rounded once).
    let mut out32 = [0.0_f32];
    process::q_sample(&table, 500, &[1.0_f32], &[1.0_f32], &mut out32);
    assert_eq!(out32[0], 1.240236635599195_f64 as f32);
    // t = 0 is the identity.
    process::q_sample(&table, 0, &[0.25], &[3.0], &mut out);
    assert_eq!(out[0], 0.25);
}

#[test]
fn linear_table_derived_weights() {
    // Quantities the core exposes only through its table (no dedicated function).
    let table = linear(1000);
    let vlb = |t: usize, sigma2: f64| {
        let i = t - 1;
        table.beta[i].powi(2) / (2.0 * sigma2 * table.alpha[i] * table.one_minus_alpha_bar[i])
    };
    // β²/(2σ²α(1 − ᾱ)) with σ² = β, and with σ² = β̃ at t = 2.
    check(
        "VLB weight t=1",
        vlb(1, table.beta[0]),
        0.5000500050005551,
        "0.50005",
    );
    check(
        "VLB weight t=2",
        vlb(2, table.beta[1]),
        0.2726920842780491,
        "0.27269",
    );
    check(
        "VLB weight t=2 (beta_tilde)",
        vlb(2, table.beta_tilde[1]),
        0.5996715121593821,
        "0.59967",
    );
    check(
        "VLB weight t=500",
        vlb(500, table.beta[499]),
        0.00550343192561971,
        "0.0055034",
    );
    check(
        "VLB weight t=1000",
        vlb(1000, table.beta[999]),
        0.010204493468637877,
        "0.0102045",
    );
    // iDDPM learned variance with v = ½ at t = 2: Σ = exp(½ ln β + ½ ln β̃) = √(β·β̃).
    let v = 0.5;
    let sigma = (v * table.beta[1].ln() + (1.0 - v) * table.beta_tilde[1].ln()).exp();
    check(
        "iDDPM Sigma(v=0.5, t=2)",
        sigma,
        8.086691707068191e-05,
        "8.0866917e-05",
    );
}

#[test]
fn linear_alpha_bar_t_at_other_t() {
    for (steps, full, printed) in [
        (100, 0.3635632480554922, "0.36356"),
        (200, 0.13218275425061793, "0.13218"),
        (500, 0.006352710797015057, "6.3527e-3"),
        (1000, 4.0358297653756754e-05, "4.035829765e-05"),
        (2000, 1.6288471245503084e-09, "1.629e-9"),
        (4000, 2.653232371823991e-18, "2.65e-18"),
    ] {
        let table = linear(steps);
        check(
            &format!("alpha_bar_T at T={steps}"),
            table.alpha_bar[steps - 1],
            full,
            printed,
        );
        check(
            &format!("badge alpha_bar_final T={steps}"),
            table.badges().alpha_bar_final,
            full,
            printed,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// §3.2 cosine schedule, s = 0.008, clip 0.999
// ---------------------------------------------------------------------------------------------

#[test]
fn cosine_t1000_values() {
    let table = cosine(1000);
    // (t, ᾱ_t, β_t, SNR_t): reference = full-precision float64 of the clipped-β cumulative product
    // (identical to f(t)/f(0) to ≤ 2e-16 for t < T); the digest prints the f(t)/f(0) values.
    #[rustfmt::skip]
    let rows: [(usize, Printed, Printed, Printed); 7] = [
        (
            1,
            (0.999958715775178, "0.9999587158"),
            (4.128422482196914e-05, "4.1284225e-5"),
            (24221.32715552543, "24221"),
        ),
        (
            2,
            (0.9999125759273678, "0.9999125759"),
            (4.614175273665033e-05, "4.6141753e-5"),
            (11437.497085434357, "11437.5"),
        ),
        (
            10,
            (0.9993687184016583, "0.9993687184"),
            (8.501117934167635e-05, "8.5011179e-5"),
            (1583.0791219431858, "1583.08"),
        ),
        (
            100,
            (0.972092737113969, "0.9720927371"),
            (0.0005269048088567541, "5.2690481e-4"),
            (34.832965923023295, "34.833"),
        ),
        (
            250,
            (0.8470121613269047, "0.8470121613"),
            (0.0013214966366291714, "1.3214966e-3"),
            (5.536467268727169, "5.53647"),
        ),
        (
            500,
            (0.49384359044063775, "0.4938435904"),
            (0.0031458862304780677, "3.1458862e-3"),
            (0.9756738848186404, "0.975674"),
        ),
        (
            750,
            (0.1442721023857358, "0.1442721024"),
            (0.007545707742043772, "7.5457077e-3"),
            (0.16859576833706225, "0.168596"),
        ),
    ];
    for (t, abar, beta, snr) in rows {
        check(
            &format!("cosine alpha_bar_{t}"),
            table.alpha_bar[t - 1],
            abar.0,
            abar.1,
        );
        check(
            &format!("cosine beta_{t}"),
            table.beta[t - 1],
            beta.0,
            beta.1,
        );
        check(&format!("cosine snr_{t}"), table.snr[t - 1], snr.0, snr.1);
        close_rel(
            &format!("cosine log_snr_{t}"),
            table.log_snr[t - 1],
            snr.0.ln(),
            REL,
        );
    }
    check(
        "cosine alpha_bar_999",
        table.alpha_bar[998],
        2.428766907034852e-06,
        "2.428766907e-6",
    );
    check(
        "cosine beta_999",
        table.beta[998],
        0.7499993929011166,
        "0.74999939",
    );
    // t = T: the raw β is 1.0 (f(1) ≈ 3.7e-33), clipped to exactly 0.999: the only clipped β.
    assert_eq!(table.beta[999], 0.999);
    assert!(
        table.beta[..999].iter().all(|&b| b < 0.999),
        "only β_T is clipped"
    );
    check(
        "cosine alpha_bar_T (clipped)",
        table.alpha_bar[999],
        2.4287669070348542e-09,
        "2.428767e-09",
    );
    close_rel(
        "cosine log_snr_T",
        table.log_snr[999],
        2.4287669070348542e-09_f64.ln(),
        1e-9,
    );

    let first_below = |thr: f64| table.alpha_bar.iter().position(|&a| a < thr).map(|i| i + 1);
    assert_eq!(first_below(0.5), Some(497));
    assert_eq!(first_below(0.1), Some(794));
    assert_eq!(first_below(0.01), Some(936));
    let badges = table.badges();
    assert_eq!(
        badges.first_t_alpha_bar_below_half,
        Some(497),
        "cosine badge: first t with ᾱ < ½"
    );
    check(
        "cosine badge alpha_bar_final",
        badges.alpha_bar_final,
        2.4287669070348542e-09,
        "2.428767e-09",
    );
    assert!(badges.beta_strictly_inside_unit && badges.alpha_bar_strictly_decreasing);
}

#[test]
fn cosine_t4000_values_and_t_invariance() {
    let t4 = cosine(4000);
    check(
        "cosine4000 alpha_bar_1000",
        t4.alpha_bar[999],
        0.8470121613269047,
        "0.84701216",
    );
    check(
        "cosine4000 alpha_bar_2000",
        t4.alpha_bar[1999],
        0.49384359044063775,
        "0.49384359",
    );
    check(
        "cosine4000 alpha_bar_3000",
        t4.alpha_bar[2999],
        0.1442721023857358,
        "0.14427210",
    );
    check(
        "cosine4000 alpha_bar_T",
        t4.alpha_bar[3999],
        1.5179804688514592e-10,
        "1.51798e-10",
    );
    check(
        "cosine4000 beta_1",
        t4.beta[0],
        9.865818813681315e-06,
        "9.8658e-6",
    );
    assert_eq!(t4.beta[3999], 0.999);
    assert!(
        t4.beta[..3999].iter().all(|&b| b < 0.999),
        "only β_T is clipped"
    );
    // ᾱ(t/T) does not depend on T (before the clip at t = T): ᾱ⁽⁴⁰⁰⁰⁾_{4t} = ᾱ⁽¹⁰⁰⁰⁾_t.
    let t1 = cosine(1000);
    for t in 1..1000 {
        close_rel(
            &format!("abar4000[{}] vs abar1000[{t}]", 4 * t),
            t4.alpha_bar[4 * t - 1],
            t1.alpha_bar[t - 1],
            REL,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// §3.3 other oracles
// ---------------------------------------------------------------------------------------------

#[test]
fn iddpm_stride_indices() {
    assert_eq!(
        iddpm_timesteps(1000, 10).unwrap(),
        vec![0, 1, 112, 223, 334, 445, 556, 667, 778, 889, 1000]
    );
    // T = 4000, K = 100 (python3: [0] + [1 + (k-1)*(T-1)//(K-1) for k in 1..=K]).
    #[rustfmt::skip]
    let want = vec![
        0, 1, 41, 81, 122, 162, 202, 243, 283, 324, 364, 404, 445, 485, 526, 566, 606, 647,
        687, 728, 768, 808, 849, 889, 930, 970, 1010, 1051, 1091, 1132, 1172, 1212, 1253,
        1293, 1334, 1374, 1414, 1455, 1495, 1535, 1576, 1616, 1657, 1697, 1737, 1778, 1818,
        1859, 1899, 1939, 1980, 2020, 2061, 2101, 2141, 2182, 2222, 2263, 2303, 2343, 2384,
        2424, 2465, 2505, 2545, 2586, 2626, 2667, 2707, 2747, 2788, 2828, 2868, 2909, 2949,
        2990, 3030, 3070, 3111, 3151, 3192, 3232, 3272, 3313, 3353, 3394, 3434, 3474, 3515,
        3555, 3596, 3636, 3676, 3717, 3757, 3798, 3838, 3878, 3919, 3959, 4000,
    ];
    let got = iddpm_timesteps(4000, 100).unwrap();
    assert_eq!(
        strided_timesteps(4000, 100, StrideRule::Floor).unwrap(),
        got
    );
    // improved-diffusion's rule (python3, its space_timesteps(4000, "100"): the stride
    // accumulated in a float and rounded with round()) differs by one step at 48 of the 100.
    #[rustfmt::skip]
    let round = vec![
        0, 1, 41, 82, 122, 163, 203, 243, 284, 324, 365, 405, 445, 486, 526, 567, 607, 647, 688,
        728, 768, 809, 849, 890, 930, 970, 1011, 1051, 1092, 1132, 1172, 1213, 1253, 1294, 1334,
        1374, 1415, 1455, 1496, 1536, 1576, 1617, 1657, 1698, 1738, 1778, 1819, 1859, 1900,
        1940, 1980, 2021, 2061, 2101, 2142, 2182, 2223, 2263, 2303, 2344, 2384, 2425, 2465,
        2505, 2546, 2586, 2627, 2667, 2707, 2748, 2788, 2829, 2869, 2909, 2950, 2990, 3031,
        3071, 3111, 3152, 3192, 3233, 3273, 3313, 3354, 3394, 3434, 3475, 3515, 3556, 3596,
        3636, 3677, 3717, 3758, 3798, 3838, 3879, 3919, 3960, 4000,
    ];
    let got_round = strided_timesteps(4000, 100, StrideRule::Round).unwrap();
    assert_eq!(got_round, round);
    let differ = got_round.iter().zip(&want).filter(|(a, b)| a != b).count();
    assert_eq!(differ, 48);
    assert_eq!(
        strided_timesteps(1000, 10, StrideRule::Round).unwrap(),
        vec![0, 1, 112, 223, 334, 445, 556, 667, 778, 889, 1000]
    );
    assert_eq!(got.len(), 101);
    assert_eq!(&got[..6], &[0, 1, 41, 81, 122, 162]);
    assert_eq!(&got[98..], &[3919, 3959, 4000]);
    assert_eq!(got, want);

    // The iDDPM plan visits exactly these jumps, from T down to 0.
    let table = linear(1000);
    let plan = SamplerPlan::new(
        &table,
        SamplerKind::Iddpm {
            steps: 10,
            variance: DdpmVariance::BetaTilde,
            rule: StrideRule::Floor,
        },
    )
    .unwrap();
    let jumps: Vec<(usize, usize)> = plan.steps.iter().map(|s| (s.t, s.t_prev)).collect();
    assert_eq!(
        jumps,
        vec![
            (1000, 889),
            (889, 778),
            (778, 667),
            (667, 556),
            (556, 445),
            (445, 334),
            (334, 223),
            (223, 112),
            (112, 1),
            (1, 0)
        ]
    );
    assert_eq!(plan.first_t(), 1000);
}

#[test]
fn alpha_linear_equals_beta_linear() {
    // Seed 004 Remark 3.23: α₁ = 1 − 1e-4, α_T = 0.98, α_t = α₁ − (t−1)(α₁ − α_T)/(T−1);
    // 1 − α_t equals the linear β to 7.3e-17 (digest §3.3).
    let table = linear(1000);
    let (a1, at) = (1.0 - 1e-4, 0.98);
    let max_diff = (1..=1000)
        .map(|t| {
            let alpha = a1 - (t - 1) as f64 * (a1 - at) / 999.0;
            ((1.0 - alpha) - table.beta[t - 1]).abs()
        })
        .fold(0.0, f64::max);
    assert!(max_diff <= 1e-15, "max |(1 − α_t) − β_t| = {max_diff:e}");

    // The same through a custom schedule β(u) = 1 − (α₁ − u·(α₁ − α_T)).
    let spec = ScheduleSpec {
        kind: ScheduleKind::Custom,
        expr: "1 - (0.9999 - u*(0.9999 - 0.98))".to_owned(),
        ..ScheduleSpec::new(ScheduleKind::Custom, 1000)
    };
    let custom = spec.table().unwrap();
    let max_diff = custom
        .beta
        .iter()
        .zip(&table.beta)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(
        max_diff <= 1e-15,
        "custom α-linear vs β-linear: {max_diff:e}"
    );
    close_rel(
        "custom alpha_bar_T",
        custom.alpha_bar[999],
        table.alpha_bar[999],
        1e-12,
    );
}

#[test]
fn sigma_hat_row_is_strided_ddpm_with_the_respaced_beta() {
    // Seed 001's σ̂ row (digest §1.2 and §3 item 7): σ̂ = √(1 − ᾱ_t/ᾱ_t′) on DDIM's timesteps,
    // with DDPM's posterior mean. Trailing S = 10 on T = 1000 visits 1000, 900, …, 100, so one
    // jump is 600 → 500, whose β′ and coefficients are the python3 float64 values of
    // `linear_iddpm_strided_posterior_600_to_500`.
    let table = linear(1000);
    let plan = SamplerPlan::sigma_hat(&table, 10, Spacing::Trailing).unwrap();
    let ts: Vec<(usize, usize)> = plan.steps.iter().map(|s| (s.t, s.t_prev)).collect();
    assert_eq!(ts[0], (1000, 900));
    assert_eq!(ts[9], (100, 0));
    let step = plan.steps.iter().find(|s| s.t == 600).unwrap();
    assert_eq!(step.t_prev, 500);
    close_rel("σ̂ 600→500", step.sigma, 0.6706922335694326_f64.sqrt(), REL);
    match step.update {
        Update::Posterior { coef_x0, coef_xt } => {
            close_rel("σ̂ coef_x0", coef_x0, 0.1930130045615833, REL);
            close_rel("σ̂ coef_xt", coef_xt, 0.5428032948321986, REL);
        }
        _ => panic!("σ̂ steps are posterior-form"),
    }
    // Larger than DDIM η = 1 on the same jump (0.79649377).
    assert!(step.sigma > 0.7964937695480695);
    assert_eq!(plan.steps[9].sigma, 0.0, "no noise on the last step");
}

/// Zero-terminal-SNR rescaling (#15 §5) against diffusers' `rescale_zero_terminal_snr`, computed
/// in python3 (float64) for the linear schedule, T = 1000: ᾱ₁ = 0.9999 (kept),
/// ᾱ_500 = 0.07602875054711472, ᾱ_999 = 4.213262465088072e-09, β_500 = 0.01027104254954192 and
/// ᾱ_T = 0, which the app floors at min(2⁻²⁴, ᾱ_999/2) so x̂₀ stays finite.
#[test]
fn zero_terminal_snr_matches_diffusers() {
    let spec = ScheduleSpec {
        zero_terminal_snr: true,
        ..ScheduleSpec::new(ScheduleKind::Linear, 1000)
    };
    let t = spec.table().unwrap();
    let rel = |a: f64, b: f64| (a - b).abs() / b.abs();
    assert!(rel(t.alpha_bar_at(1), 0.9999) < 1e-12);
    assert!(rel(t.alpha_bar_at(500), 0.076_028_750_547_114_72) < 1e-9);
    assert!(rel(t.alpha_bar_at(999), 4.213_262_465_088_072e-9) < 1e-6);
    assert!(rel(t.beta[499], 0.010_271_042_549_541_92) < 1e-9);
    let floor = (4.213_262_465_088_072e-9f64 / 2.0).min(1.0 / 16_777_216.0);
    assert!(rel(t.alpha_bar_at(1000), floor) < 1e-6);
    assert!(!t.badges().terminal_snr_warning);
    assert!(spec.label().ends_with("zero-SNR"));
    // Sampling stays finite at t = T: a DDIM step from pure noise with ε̂ = x_T.
    let plan = SamplerPlan::new(
        &t,
        SamplerKind::Ddim {
            steps: 10,
            eta: 0.0,
            spacing: Spacing::Trailing,
        },
    )
    .unwrap();
    let x = vec![0.3f64, -1.2, 2.0];
    let mut y = x.clone();
    plan.steps[0].apply_in_place(&mut y, &x, &[0.0; 3], true);
    assert!(y.iter().all(|v| v.is_finite()), "{y:?}");
}
