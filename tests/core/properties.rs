//! Property tests of the diffusion core over random valid parameters of every schedule kind,
//! and of its validation over random invalid ones.
//!
//! Each generated case builds all seven kinds from the same random parameters, so every kind is
//! exercised in every case (64 cases per property keeps the suite fast in a debug build).
#![allow(clippy::unwrap_used)]

use diffusion_lab::diffusion::{
    DdpmVariance, MAX_STEPS, Param, Posterior, Rates, SamplerError, SamplerKind, SamplerPlan,
    ScheduleError, ScheduleKind, ScheduleSpec, ScheduleTable, Spacing, StrideRule, ddim_sigma,
    ddim_timesteps, iddpm_timesteps, process,
};
use proptest::prelude::*;
use proptest::sample::Index;

/// A custom β(u): its source text and the same polynomial evaluated directly.
#[derive(Clone, Debug)]
struct Poly {
    src: String,
    /// β(u) = Σ coef[i]·u^i, or (when `reversed`) Σ coef[i]·(1 − u)^i.
    coef: Vec<f64>,
    reversed: bool,
}

impl Poly {
    fn eval(&self, u: f64) -> f64 {
        let x = if self.reversed { 1.0 - u } else { u };
        self.coef.iter().rev().fold(0.0, |acc, c| acc * x + c)
    }
}

/// Polynomials with a constant term in [1e-5, 1e-2] and non-negative higher coefficients summing
/// to at most 0.06, so β(u) ∈ [1e-5, 0.07] ⊂ (0, 1) on [0, 1]. Written in three styles.
fn poly_strategy() -> impl Strategy<Value = Poly> {
    let a = 1e-5..=1e-2_f64;
    let c = 0.0..=0.02_f64;
    prop_oneof![
        // a + b*u + c*u^2 + d*u^3
        (a.clone(), c.clone(), c.clone(), c.clone()).prop_map(|(a, b, c, d)| Poly {
            src: format!("{a:?} + {b:?}*u + {c:?}*u^2 + {d:?}*u^3"),
            coef: vec![a, b, c, d],
            reversed: false,
        }),
        // a + b*u^k, k in 1..=6
        (a.clone(), c.clone(), 1usize..=6).prop_map(|(a, b, k)| {
            let mut coef = vec![0.0; k + 1];
            coef[0] = a;
            coef[k] += b;
            Poly {
                src: format!("{a:?}+{b:?}*u^{k}"),
                coef,
                reversed: false,
            }
        }),
        // a + b*(1 - u)^2: a decreasing β, still a valid schedule.
        (a, c).prop_map(|(a, b)| Poly {
            src: format!("({a:?}) + ({b:?}) * (1 - u)^2"),
            coef: vec![a, 0.0, b],
            reversed: true,
        }),
    ]
}

/// Random valid parameters for every kind.
#[derive(Clone, Debug)]
struct Params {
    steps: usize,
    beta_start: f64,
    beta_end: f64,
    cosine_s: f64,
    max_beta: f64,
    power: f64,
    waves: u32,
    poly: Poly,
}

fn params_strategy() -> impl Strategy<Value = Params> {
    (
        2usize..=2000,
        1e-5..=1e-2_f64,
        0.0..=1.0_f64,
        0.0..=0.05_f64,
        0.5..=0.999_f64,
        0.1..=12.0_f64,
        1u32..=8,
        poly_strategy(),
    )
        .prop_map(
            |(steps, beta_start, frac, cosine_s, max_beta, power, waves, poly)| Params {
                steps,
                beta_start,
                // β_T in (β₁, 0.05]: never equal to β₁.
                beta_end: beta_start + (0.05 - beta_start) * frac.max(1e-3),
                cosine_s,
                max_beta,
                power: power.max(0.1 + 1e-9),
                waves,
                poly,
            },
        )
}

impl Params {
    fn spec(&self, kind: ScheduleKind) -> ScheduleSpec {
        ScheduleSpec {
            kind,
            steps: self.steps,
            beta_start: self.beta_start,
            beta_end: self.beta_end,
            cosine_s: self.cosine_s,
            max_beta: self.max_beta,
            power: self.power,
            waves: self.waves,
            expr: self.poly.src.clone(),
            zero_terminal_snr: false,
        }
    }

    fn tables(&self) -> Vec<(ScheduleKind, ScheduleTable)> {
        ScheduleKind::ALL
            .iter()
            .map(|&k| {
                let table = self
                    .spec(k)
                    .table()
                    .unwrap_or_else(|e| panic!("{k} with {self:?} must be valid: {e}"));
                (k, table)
            })
            .collect()
    }
}

fn rel_close(a: f64, b: f64, rel: f64, floor: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(floor)
}

type Check = Result<(), TestCaseError>;

/// ᾱ strictly decreasing inside (0, 1]; the derived columns consistent with it.
fn check_alpha_bar(p: &Params) -> Check {
    for (kind, table) in p.tables() {
        let n = table.steps();
        prop_assert_eq!(n, p.steps);
        prop_assert!(
            table.beta.iter().all(|&b| b > 0.0 && b < 1.0),
            "{}: β outside (0, 1)",
            kind
        );
        let first = table.alpha_bar[0];
        prop_assert!(first < 1.0 && first > 0.0, "{}: ᾱ₁ = {}", kind, first);
        for t in 1..n {
            prop_assert!(
                table.alpha_bar[t] < table.alpha_bar[t - 1],
                "{}: ᾱ not decreasing at t = {}",
                kind,
                t + 1
            );
            prop_assert!(table.alpha_bar[t] > 0.0, "{}: ᾱ_{} = 0", kind, t + 1);
        }
        let badges = table.badges();
        prop_assert!(badges.alpha_bar_strictly_decreasing && badges.beta_strictly_inside_unit);
        prop_assert_eq!(badges.alpha_bar_final, table.alpha_bar[n - 1]);
        for i in 0..n {
            let (ab, om) = (table.alpha_bar[i], table.one_minus_alpha_bar[i]);
            prop_assert_eq!(table.alpha[i], 1.0 - table.beta[i]);
            // ᾱ (a running product) and 1 − ᾱ (expm1 of a running sum of log1p) are computed
            // separately; they must still add up to 1 (rounding grows at most ~T·1e-16).
            prop_assert!(
                (ab + om - 1.0).abs() <= 1e-12,
                "{}: ᾱ + (1 − ᾱ) = {} at t = {}",
                kind,
                ab + om,
                i + 1
            );
            prop_assert!(rel_close(table.sqrt_alpha_bar[i].powi(2), ab, 1e-12, 0.0));
            prop_assert!(rel_close(
                table.sqrt_one_minus_alpha_bar[i].powi(2),
                om,
                1e-12,
                0.0
            ));
            prop_assert!(rel_close(table.snr[i], ab / om, 1e-12, 0.0));
            let ln_snr = table.snr[i].ln();
            prop_assert!(
                rel_close(table.log_snr[i], ln_snr, 1e-9, 1.0),
                "{}: log_snr {} vs ln snr {}",
                kind,
                table.log_snr[i],
                ln_snr
            );
        }
    }
    Ok(())
}

/// 0 ≤ β̃ ≤ β (1e-15 relative slack), and β̃₁ = 0.
fn check_beta_tilde(p: &Params) -> Check {
    for (kind, table) in p.tables() {
        prop_assert_eq!(table.beta_tilde[0], 0.0);
        for i in 0..table.steps() {
            let (bt, b) = (table.beta_tilde[i], table.beta[i]);
            prop_assert!(
                bt >= 0.0 && bt <= b * (1.0 + 1e-15),
                "{}: β̃_{} = {} > β = {}",
                kind,
                i + 1,
                bt,
                b
            );
            prop_assert_eq!(process::posterior_variance(&table, i + 1), bt);
        }
    }
    Ok(())
}

/// The posterior mean in ε-form equals μ̃(x_t, x̂₀(x_t, ε)).
fn check_mean_forms(p: &Params, t_index: Index, xt: f64, eps: f64) -> Check {
    for (kind, table) in p.tables() {
        let t = t_index.index(table.steps()) + 1;
        let mut from_eps = [0.0];
        process::mean_from_eps(&table, t, &[xt], &[eps], &mut from_eps);
        let mut x0 = [0.0];
        process::x0_from_eps(&table, t, &[xt], &[eps], &mut x0);
        let mut from_x0 = [0.0];
        process::posterior_mean(&table, t, &x0, &[xt], &mut from_x0);
        // Relative 1e-9, with a floor at the size of the terms summed, (|x_t| + |ε|)/√α_t,
        // for means that cancel to near 0.
        let floor = (xt.abs() + eps.abs()) / table.alpha[t - 1].sqrt();
        prop_assert!(
            rel_close(from_eps[0], from_x0[0], 1e-9, floor),
            "{}: T = {} t = {}: ε-form {} vs x₀-form {}",
            kind,
            table.steps(),
            t,
            from_eps[0],
            from_x0[0]
        );
        // A one-step jump is the ordinary posterior.
        prop_assert_eq!(
            Posterior::between(&table, t, t - 1),
            Posterior::at(&table, t)
        );
    }
    Ok(())
}

/// A jump t → t' of the strided posterior: without noise it maps √ᾱ_t·x₀ to √ᾱ_{t'}·x₀, and its
/// variance β̃' is DDIM's σ² at η = 1 for the same jump.
fn check_strided_posterior(p: &Params, a: Index, b: Index) -> Check {
    for (kind, table) in p.tables() {
        let n = table.steps();
        let (i, j) = (a.index(n + 1), b.index(n + 1));
        if i == j {
            continue;
        }
        let (t, tp) = (i.max(j), i.min(j));
        let post = Posterior::between(&table, t, tp);
        let (s, sp) = (table.alpha_bar_at(t).sqrt(), table.alpha_bar_at(tp).sqrt());
        let noise_free = post.coef_x0 + post.coef_xt * s;
        prop_assert!(
            rel_close(noise_free, sp, 1e-9, 0.0),
            "{}: {} → {}: c₀ + c_t·√ᾱ_t = {} vs √ᾱ_t' = {}",
            kind,
            t,
            tp,
            noise_free,
            sp
        );
        let s2 = ddim_sigma(&table, t, tp, 1.0).powi(2);
        prop_assert!(
            rel_close(post.variance, s2, 1e-9, 1e-300),
            "{}: {} → {}: β̃' {} vs σ² {}",
            kind,
            t,
            tp,
            post.variance,
            s2
        );
        prop_assert!(post.variance <= post.beta * (1.0 + 1e-12));
    }
    Ok(())
}

/// DDIM with η = 1 on consecutive steps has σ² = β̃_t (relative 1e-9), at every t.
fn check_ddim_eta1(p: &Params) -> Check {
    for (kind, table) in p.tables() {
        for t in 1..=table.steps() {
            let s2 = ddim_sigma(&table, t, t - 1, 1.0).powi(2);
            let bt = table.beta_tilde[t - 1];
            prop_assert!(
                (s2 - bt).abs() <= 1e-9 * bt,
                "{}: t = {}: σ² = {} vs β̃ = {}",
                kind,
                t,
                s2,
                bt
            );
        }
    }
    Ok(())
}

/// x₀ ↔ ε and v round trips, and the score.
fn check_round_trips(p: &Params, t_index: Index, x0: f64, eps: f64) -> Check {
    for (kind, table) in p.tables() {
        let t = t_index.index(table.steps()) + 1;
        let r = Rates::at(&table, t);
        prop_assert!((r.signal.powi(2) + r.noise.powi(2) - 1.0).abs() <= 1e-12);
        let mut xt = [0.0];
        process::q_sample(&table, t, &[x0], &[eps], &mut xt);
        // x̂₀ from (x_t, ε) divides by √ᾱ: error ≲ 1e-16·(|x₀| + |ε|·√(1 − ᾱ)/√ᾱ).
        let mut x0_back = [0.0];
        process::x0_from_eps(&table, t, &xt, &[eps], &mut x0_back);
        let cond_x0 = x0.abs() + eps.abs() * r.noise / r.signal;
        prop_assert!(
            (x0_back[0] - x0).abs() <= 1e-12 * cond_x0,
            "{}: t = {} x₀ {} → {}",
            kind,
            t,
            x0,
            x0_back[0]
        );
        // ε from (x_t, x₀) divides by √(1 − ᾱ).
        let mut eps_back = [0.0];
        process::eps_from_x0(&table, t, &xt, &[x0], &mut eps_back);
        let cond_eps = eps.abs() + x0.abs() * r.signal / r.noise;
        prop_assert!(
            (eps_back[0] - eps).abs() <= 1e-12 * cond_eps,
            "{}: t = {} ε {} → {}",
            kind,
            t,
            eps,
            eps_back[0]
        );
        // v = √ᾱ ε − √(1 − ᾱ) x₀, then x̂₀ = √ᾱ x_t − √(1 − ᾱ) v and ε̂ = √(1 − ᾱ) x_t + √ᾱ v.
        let mut v = [0.0];
        process::v_from_eps_x0(&table, t, &[eps], &[x0], &mut v);
        let mut x0_v = [0.0];
        process::x0_from_v(&table, t, &xt, &v, &mut x0_v);
        let mut eps_v = [0.0];
        process::eps_from_v(&table, t, &xt, &v, &mut eps_v);
        let scale = x0.abs() + eps.abs();
        prop_assert!(
            (x0_v[0] - x0).abs() <= 1e-9 * scale,
            "{}: t = {} x₀ via v: {} vs {}",
            kind,
            t,
            x0_v[0],
            x0
        );
        prop_assert!(
            (eps_v[0] - eps).abs() <= 1e-9 * scale,
            "{}: t = {} ε via v: {} vs {}",
            kind,
            t,
            eps_v[0],
            eps
        );
        // The score is −ε/√(1 − ᾱ).
        let mut score = [0.0];
        process::score_from_eps(&table, t, &[eps], &mut score);
        prop_assert!(rel_close(score[0], -eps / r.noise, 1e-15, 0.0));
    }
    Ok(())
}

/// The custom expression is evaluated as the polynomial it spells, at u = (t − 1)/(T − 1).
fn check_custom_polynomial(p: &Params) -> Check {
    let table = p.spec(ScheduleKind::Custom).table().unwrap();
    let n = table.steps();
    for i in 0..n {
        let u = i as f64 / (n - 1) as f64;
        let want = p.poly.eval(u);
        prop_assert!(
            rel_close(table.beta[i], want, 1e-12, 0.0),
            "{}: β({}) = {} vs {}",
            p.poly.src,
            u,
            table.beta[i],
            want
        );
    }
    Ok(())
}

/// DDIM and iDDPM timesteps: the right count, order and range for every S ≤ T.
fn check_timesteps(train: usize, steps: usize) -> Check {
    for spacing in Spacing::ALL {
        let ts = ddim_timesteps(train, steps, spacing).unwrap();
        prop_assert_eq!(ts.len(), steps, "{:?} T = {} S = {}", spacing, train, steps);
        prop_assert!(
            ts.windows(2).all(|w| w[0] > w[1]),
            "{:?} not descending",
            spacing
        );
        prop_assert!(ts.iter().all(|&t| (1..=train).contains(&t)));
        match spacing {
            Spacing::Linspace => {
                prop_assert_eq!(ts[steps - 1], 1);
                if steps > 1 {
                    prop_assert_eq!(ts[0], train);
                }
            }
            Spacing::Leading => prop_assert_eq!(ts[steps - 1], 1),
            Spacing::Trailing => prop_assert_eq!(ts[0], train),
        }
    }
    let ts = iddpm_timesteps(train, steps).unwrap();
    prop_assert_eq!(ts.len(), steps + 1);
    prop_assert_eq!(ts[0], 0);
    prop_assert_eq!(ts[steps], train);
    prop_assert!(ts.windows(2).all(|w| w[0] < w[1]));
    if steps > 1 {
        prop_assert_eq!(ts[1], 1);
    }
    let too_many = SamplerError::StepsOutOfRange {
        steps: train + 1,
        train_steps: train,
    };
    prop_assert_eq!(iddpm_timesteps(train, train + 1), Err(too_many));
    let none = SamplerError::StepsOutOfRange {
        steps: 0,
        train_steps: train,
    };
    prop_assert_eq!(ddim_timesteps(train, 0, Spacing::Linspace), Err(none));
    Ok(())
}

/// The DDPM plan visits T..1 with σ = √β or √β̃ and no noise on the last step.
fn check_ddpm_plan(p: &Params) -> Check {
    for (kind, table) in p.tables() {
        let n = table.steps();
        for variance in [DdpmVariance::Beta, DdpmVariance::BetaTilde] {
            let plan = SamplerPlan::new(&table, SamplerKind::Ddpm { variance }).unwrap();
            prop_assert_eq!(plan.steps.len(), n);
            prop_assert_eq!(plan.first_t(), n);
            for (i, step) in plan.steps.iter().enumerate() {
                let t = n - i;
                prop_assert_eq!((step.t, step.t_prev), (t, t - 1));
                let want = match (t, variance) {
                    (1, _) => 0.0,
                    (_, DdpmVariance::Beta) => table.beta[t - 1].sqrt(),
                    // A learned-Σ step's nominal σ (used without the model's v) is β̃'s.
                    (_, DdpmVariance::BetaTilde | DdpmVariance::Learned) => {
                        table.beta_tilde[t - 1].sqrt()
                    }
                };
                prop_assert!(
                    rel_close(step.sigma, want, 1e-12, 0.0),
                    "{}: t = {} σ = {} vs {}",
                    kind,
                    t,
                    step.sigma,
                    want
                );
            }
        }
    }
    Ok(())
}

/// T = 0 and T > 100 000 are StepsOutOfRange for every kind, whatever the other parameters.
fn check_steps_out_of_range(p: &Params, big: usize) -> Check {
    for kind in ScheduleKind::ALL {
        for steps in [0, MAX_STEPS + 1, big] {
            let spec = ScheduleSpec {
                steps,
                ..p.spec(kind)
            };
            let err = spec.table().unwrap_err();
            prop_assert_eq!(&err, &ScheduleError::StepsOutOfRange(steps));
            prop_assert_eq!(err.param(), Some(Param::Steps));
            prop_assert!(err.to_string().contains("--steps"));
        }
    }
    Ok(())
}

/// A β₁ or β_T outside (0, 1) is InvalidParam naming it, for the kinds that use it, and is
/// ignored by the kinds that do not.
fn check_bad_betas(p: &Params, bad: f64) -> Check {
    for kind in ScheduleKind::ALL {
        for param in [Param::BetaStart, Param::BetaEnd] {
            let mut spec = p.spec(kind);
            match param {
                Param::BetaStart => spec.beta_start = bad,
                _ => spec.beta_end = bad,
            }
            let result = spec.table();
            if !kind.uses(param) {
                prop_assert!(
                    result.is_ok(),
                    "{} ignores {:?}, got {:?}",
                    kind,
                    param,
                    result
                );
                continue;
            }
            let Err(err) = result else {
                return Err(TestCaseError::fail(format!(
                    "{kind}: {param:?} = {bad} accepted"
                )));
            };
            let ScheduleError::InvalidParam {
                param: got, value, ..
            } = err
            else {
                return Err(TestCaseError::fail(format!("{kind}: {param:?}: {err:?}")));
            };
            prop_assert_eq!(got, param);
            prop_assert!(value.to_bits() == bad.to_bits());
            prop_assert_eq!(err.param(), Some(param));
            prop_assert!(err.to_string().contains(param.flag()), "{}", err);
        }
    }
    Ok(())
}

/// `spec` must be refused with InvalidParam naming `param`.
fn expect_invalid(spec: ScheduleSpec, param: Param) -> Check {
    match spec.table() {
        Err(e @ ScheduleError::InvalidParam { .. }) => {
            prop_assert_eq!(e.param(), Some(param));
            prop_assert!(e.to_string().contains(param.flag()), "{}", e);
        }
        other => prop_assert!(false, "{:?} should be rejected, got {:?}", param, other),
    }
    Ok(())
}

/// Power p ≤ 0 or non-finite, waves = 0, max_beta outside (0, 1), s < 0 or non-finite.
fn check_bad_shapes(p: &Params, power: f64, max_beta: f64, cosine_s: f64) -> Check {
    let power_spec = ScheduleSpec {
        power,
        ..p.spec(ScheduleKind::Power)
    };
    expect_invalid(power_spec, Param::Power)?;
    let sine_spec = ScheduleSpec {
        waves: 0,
        ..p.spec(ScheduleKind::Sine)
    };
    expect_invalid(sine_spec, Param::Waves)?;
    let cosine_spec = ScheduleSpec {
        max_beta,
        ..p.spec(ScheduleKind::Cosine)
    };
    expect_invalid(cosine_spec, Param::MaxBeta)?;
    let cosine_spec = ScheduleSpec {
        cosine_s,
        ..p.spec(ScheduleKind::Cosine)
    };
    expect_invalid(cosine_spec, Param::CosineS)?;
    // The same values are ignored by a kind that does not read them.
    let ignored = ScheduleSpec {
        power,
        waves: 0,
        max_beta,
        cosine_s,
        ..p.spec(ScheduleKind::Linear)
    };
    prop_assert!(
        ignored.table().is_ok(),
        "linear must ignore power, waves, max_beta and s"
    );
    Ok(())
}

/// An expression that does not parse is ExprParse.
fn check_unparseable(p: &Params, broken: &str, how: usize) -> Check {
    // Either the whole expression is broken, or a valid polynomial is broken at its end.
    let src = match how {
        0 => broken.to_owned(),
        1 => format!("{} +", p.poly.src),
        _ => format!("({}", p.poly.src),
    };
    let spec = ScheduleSpec {
        expr: src.clone(),
        ..p.spec(ScheduleKind::Custom)
    };
    let err = spec.table().unwrap_err();
    prop_assert!(
        matches!(err, ScheduleError::ExprParse(_)),
        "{:?} gave {:?}",
        src,
        err
    );
    prop_assert_eq!(err.param(), Some(Param::Expr));
    prop_assert!(err.to_string().contains("--expr"));
    // Other kinds do not look at the expression.
    let ignored = ScheduleSpec {
        expr: src,
        ..p.spec(ScheduleKind::Linear)
    };
    prop_assert!(ignored.table().is_ok(), "linear must ignore the expression");
    Ok(())
}

/// β as a function of u, evaluated directly.
type BetaOfU = Box<dyn Fn(f64) -> f64>;

/// An expression leaving (0, 1) is ExprOutOfRange at the first offending t.
fn check_out_of_range(p: &Params, c: f64, shift: f64) -> Check {
    let n = p.steps;
    let u = |i: usize| i as f64 / (n - 1) as f64;
    let poly = p.poly.clone();
    // β(u) = c − u (reaches 0 inside the range), β(u) = poly + shift·u (reaches 1 when
    // poly(1) + shift ≥ 1), and β(u) = u (β₁ = 0 at t = 1).
    let cases: Vec<(String, BetaOfU)> = vec![
        (format!("{c:?} - u"), Box::new(move |x| c - x)),
        (
            format!("{} + {shift:?}*u", p.poly.src),
            Box::new(move |x| poly.eval(x) + shift * x),
        ),
        ("u".to_owned(), Box::new(|x| x)),
    ];
    for (src, f) in cases {
        let first_bad = (0..n).find(|&i| {
            let v = f(u(i));
            !(v > 0.0 && v < 1.0)
        });
        let spec = ScheduleSpec {
            expr: src.clone(),
            ..p.spec(ScheduleKind::Custom)
        };
        match (first_bad, spec.table()) {
            (None, Ok(_)) => {}
            (Some(i), Err(err @ ScheduleError::ExprOutOfRange { t, u: got_u, value })) => {
                prop_assert_eq!(t, i + 1, "{}", src);
                prop_assert_eq!(got_u, u(i));
                let want = f(u(i));
                prop_assert!(
                    (value - want).abs() <= 1e-12,
                    "{}: {} vs {}",
                    src,
                    value,
                    want
                );
                prop_assert_eq!(err.param(), Some(Param::Expr));
            }
            (want, got) => prop_assert!(false, "{}: first bad {:?}, got {:?}", src, want, got),
        }
    }
    Ok(())
}

/// Sampler plans reject S outside 1..=T and η negative or not finite.
fn check_plan_validation(p: &Params, bad_eta: f64) -> Check {
    let table = p.spec(ScheduleKind::Linear).table().unwrap();
    let n = table.steps();
    for steps in [0, n + 1] {
        let ddim = SamplerKind::Ddim {
            steps,
            eta: 0.0,
            spacing: Spacing::Linspace,
        };
        let iddpm = SamplerKind::Iddpm {
            steps,
            variance: DdpmVariance::Beta,
            rule: StrideRule::Floor,
        };
        for kind in [ddim, iddpm] {
            let want = SamplerError::StepsOutOfRange {
                steps,
                train_steps: n,
            };
            prop_assert_eq!(SamplerPlan::new(&table, kind).unwrap_err(), want);
        }
    }
    let kind = SamplerKind::Ddim {
        steps: 1,
        eta: bad_eta,
        spacing: Spacing::Trailing,
    };
    match SamplerPlan::new(&table, kind) {
        Err(SamplerError::BadEta(e)) => prop_assert!(e.to_bits() == bad_eta.to_bits()),
        other => prop_assert!(false, "η = {} gave {:?}", bad_eta, other),
    }
    Ok(())
}

/// Values outside (0, 1) for β₁, β_T.
fn outside_unit() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(1.0),
        Just(f64::NAN),
        Just(f64::INFINITY),
        -10.0..=0.0_f64,
        1.0..=10.0_f64,
    ]
}

/// Values that are not a valid exponent p > 0.
fn bad_power() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        -20.0..=0.0_f64,
    ]
}

/// Values that are not a valid cosine offset s ≥ 0.
fn bad_offset() -> impl Strategy<Value = f64> {
    prop_oneof![Just(f64::NAN), Just(f64::INFINITY), -1.0..-1e-12_f64]
}

/// Strings that do not parse as an expression in u.
fn broken_expr() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "^", "+", ")", "(u", "u +", "0.01*u^", "1e-4 + x", "", "   ", "sqrt(",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn alpha_bar_strictly_decreasing_in_unit_interval(p in params_strategy()) {
        check_alpha_bar(&p)?;
    }

    #[test]
    fn beta_tilde_at_most_beta(p in params_strategy()) {
        check_beta_tilde(&p)?;
    }

    #[test]
    fn mean_eps_form_equals_x0_form(
        p in params_strategy(),
        t in any::<Index>(),
        xt in -5.0..5.0_f64,
        eps in -4.0..4.0_f64,
    ) {
        check_mean_forms(&p, t, xt, eps)?;
    }

    #[test]
    fn strided_posterior_is_consistent(
        p in params_strategy(),
        a in any::<Index>(),
        b in any::<Index>(),
    ) {
        check_strided_posterior(&p, a, b)?;
    }

    #[test]
    fn ddim_eta1_consecutive_sigma_squared_is_beta_tilde(p in params_strategy()) {
        check_ddim_eta1(&p)?;
    }

    #[test]
    fn x0_eps_and_v_round_trips(
        p in params_strategy(),
        t in any::<Index>(),
        x0 in -3.0..3.0_f64,
        eps in -4.0..4.0_f64,
    ) {
        check_round_trips(&p, t, x0, eps)?;
    }

    #[test]
    fn custom_expression_evaluates_the_polynomial(p in params_strategy()) {
        check_custom_polynomial(&p)?;
    }

    #[test]
    fn sampler_timesteps_are_well_formed(train in 1usize..=3000, s in any::<Index>()) {
        check_timesteps(train, s.index(train) + 1)?;
    }

    #[test]
    fn ddpm_plan_sigmas(p in params_strategy()) {
        check_ddpm_plan(&p)?;
    }

    #[test]
    fn steps_out_of_range(p in params_strategy(), big in (MAX_STEPS + 1)..=(MAX_STEPS + 1000)) {
        check_steps_out_of_range(&p, big)?;
    }

    #[test]
    fn bad_beta_start_and_end(p in params_strategy(), bad in outside_unit()) {
        check_bad_betas(&p, bad)?;
    }

    #[test]
    fn bad_shape_parameters(
        p in params_strategy(),
        power in bad_power(),
        max_beta in outside_unit(),
        s in bad_offset(),
    ) {
        check_bad_shapes(&p, power, max_beta, s)?;
    }

    #[test]
    fn custom_expression_that_does_not_parse(
        p in params_strategy(),
        broken in broken_expr(),
        how in 0usize..3,
    ) {
        check_unparseable(&p, broken, how)?;
    }

    #[test]
    fn custom_expression_out_of_range(
        p in params_strategy(),
        c in 0.01..0.99_f64,
        shift in 0.01..2.0_f64,
    ) {
        check_out_of_range(&p, c, shift)?;
    }

    #[test]
    fn sampler_plan_validation(p in params_strategy(), bad_eta in bad_offset()) {
        check_plan_validation(&p, bad_eta)?;
    }
}

#[test]
fn steps_limits_are_inclusive() {
    // T = 1 and T = MAX_STEPS are valid (the edges of 1..=100 000).
    for kind in ScheduleKind::ALL {
        let table = ScheduleSpec::new(kind, 1).table().unwrap();
        assert_eq!(table.steps(), 1, "{kind}");
    }
    let table = ScheduleSpec::new(ScheduleKind::Linear, MAX_STEPS)
        .table()
        .unwrap();
    assert_eq!(table.steps(), MAX_STEPS);
    // With the default endpoints ln ᾱ_T ≈ −1012, so ᾱ sinks into the subnormal range (ᾱ_T =
    // 1.2e-322) where the running product can no longer decrease strictly: the badge says so
    // honestly, while log-SNR (ln ᾱ − ln(1 − ᾱ), from a running sum of logs) stays finite and
    // strictly decreasing.
    assert!(table.alpha_bar[MAX_STEPS - 1] < f64::MIN_POSITIVE);
    assert!(!table.badges().alpha_bar_strictly_decreasing);
    assert!(table.log_snr.iter().all(|l| l.is_finite()));
    assert!(table.log_snr.windows(2).all(|w| w[1] < w[0]));
    assert!(
        (table.log_snr[MAX_STEPS - 1] + 1011.768).abs() < 0.01,
        "{}",
        table.log_snr[MAX_STEPS - 1]
    );
}

#[test]
fn fixed_bad_expressions() {
    let custom = |expr: &str| {
        ScheduleSpec {
            expr: expr.to_owned(),
            ..ScheduleSpec::new(ScheduleKind::Custom, 1000)
        }
        .table()
    };
    // The examples of the command-line brief.
    assert!(matches!(
        custom("0.01*u^"),
        Err(ScheduleError::ExprParse(_))
    ));
    assert_eq!(
        custom("u"),
        Err(ScheduleError::ExprOutOfRange {
            t: 1,
            u: 0.0,
            value: 0.0
        })
    );
    // β = 1 exactly is outside (0, 1), so is a NaN from 0/0 and an infinity.
    assert!(matches!(
        custom("1"),
        Err(ScheduleError::ExprOutOfRange { t: 1, .. })
    ));
    assert!(matches!(
        custom("0/0"),
        Err(ScheduleError::ExprOutOfRange { t: 1, .. })
    ));
    assert!(matches!(
        custom("0.01/u"),
        Err(ScheduleError::ExprOutOfRange { t: 1, .. })
    ));
    // Scientific notation, functions and constants parse.
    let table = custom("1e-4 + 0.02*(sin(PI/2*u))^2").unwrap();
    assert!((table.beta[999] - (1e-4 + 0.02)).abs() < 1e-15);
    assert_eq!(table.beta[0], 1e-4);
}
