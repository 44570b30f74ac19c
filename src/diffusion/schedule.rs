//! Noise schedules: parameters, validation, and the f64 table of every derived quantity.
//!
//! Conventions (digest §2): t runs 1..=T, ᾱ₀ = 1, α_t = 1 − β_t, ᾱ_t = ∏_{s≤t} α_s,
//! β̃_t = (1 − ᾱ_{t−1})/(1 − ᾱ_t)·β_t (so β̃₁ = 0), SNR = ᾱ/(1 − ᾱ).

use serde::{Deserialize, Serialize};
use std::fmt;

/// The largest number of diffusion steps a schedule may have.
pub const MAX_STEPS: usize = 100_000;

/// ᾱ_T above this raises the "terminal SNR" warning: x_T = √ᾱ_T·x₀ + √(1 − ᾱ_T)·ε then still
/// carries √ᾱ_T > 3 % of the signal, so the N(0, I) the sampler starts from is not where the
/// forward process ends (#15 §4.1; power 10 from 1e-4 to 0.02 over T = 1000 has ᾱ_T = 0.146).
pub const TERMINAL_ALPHA_BAR_LIMIT: f64 = 1e-3;

/// Whether a schedule ending at `alpha_bar_final` = ᾱ_T should carry the terminal-SNR warning
/// (ᾱ_T > [`TERMINAL_ALPHA_BAR_LIMIT`]; NaN warns too).
pub fn terminal_snr_warning(alpha_bar_final: f64) -> bool {
    alpha_bar_final.is_nan() || alpha_bar_final > TERMINAL_ALPHA_BAR_LIMIT
}

/// The family of a noise schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScheduleKind {
    /// β linear from β₁ to β_T (Ho et al.; seeds 001, 003, 004).
    Linear,
    /// √β linear from √β₁ to √β_T (diffusers' `scaled_linear`).
    ScaledLinear,
    /// Nichol & Dhariwal's cosine ᾱ, with offset s and β clipped at `max_beta` (seed 004).
    Cosine,
    /// β = sigmoid(linspace(−6, 6, T))·(β_T − β₁) + β₁ (diffusers' `sigmoid`; acts on β, not ᾱ).
    Sigmoid,
    /// β_t = β₁ + (β_T − β₁)·u^p with u = (t−1)/(T−1) (seed 003's "exponential" schedules).
    Power,
    /// β_t = β₁ + (β_T − β₁)·(½ − ½·cos(π·k·u)) (seed 003's "sine wave"; our formula, see README).
    Sine,
    /// β(u) typed by the user as an expression in u ∈ [0, 1].
    Custom,
    /// Seed 000's continuous-time schedule (Crowson's v-diffusion `get_ddpm_schedule`, digest
    /// R5): ᾱ(u) = exp(−10⁻⁴ − 10u²) at u = t/T, a continuous version of the linear schedule
    /// (ᾱ(1) ≈ 4.54e−5). The table holds it at t = 1..T exactly.
    VDiffusion,
}

impl ScheduleKind {
    /// Every kind, in menu order.
    pub const ALL: [ScheduleKind; 8] = [
        ScheduleKind::Linear,
        ScheduleKind::ScaledLinear,
        ScheduleKind::Cosine,
        ScheduleKind::Sigmoid,
        ScheduleKind::Power,
        ScheduleKind::Sine,
        ScheduleKind::Custom,
        ScheduleKind::VDiffusion,
    ];

    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            ScheduleKind::Linear => "linear",
            ScheduleKind::ScaledLinear => "scaled-linear",
            ScheduleKind::Cosine => "cosine",
            ScheduleKind::Sigmoid => "sigmoid",
            ScheduleKind::Power => "power",
            ScheduleKind::Sine => "sine",
            ScheduleKind::Custom => "custom",
            ScheduleKind::VDiffusion => "v-diffusion",
        }
    }

    /// Parses a command-line name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Which of the editable parameters this kind reads.
    pub fn uses(self, param: Param) -> bool {
        use ScheduleKind as K;
        match param {
            Param::Steps => true,
            Param::BetaStart | Param::BetaEnd => {
                matches!(
                    self,
                    K::Linear | K::ScaledLinear | K::Sigmoid | K::Power | K::Sine
                )
            }
            Param::CosineS | Param::MaxBeta => self == K::Cosine,
            Param::Power => self == K::Power,
            Param::Waves => self == K::Sine,
            Param::Expr => self == K::Custom,
        }
    }
}

impl fmt::Display for ScheduleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An editable schedule parameter; used to name the culprit in errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    /// T, the number of diffusion steps.
    Steps,
    /// β₁.
    BetaStart,
    /// β_T.
    BetaEnd,
    /// The cosine offset s.
    CosineS,
    /// The cosine clip on β.
    MaxBeta,
    /// The exponent p of the power schedule.
    Power,
    /// The number of half-waves k of the sine schedule.
    Waves,
    /// The custom β(u) expression.
    Expr,
}

impl Param {
    /// The parameter as the app labels it.
    pub fn label(self) -> &'static str {
        match self {
            Param::Steps => "T",
            Param::BetaStart => "β₁",
            Param::BetaEnd => "β_T",
            Param::CosineS => "s",
            Param::MaxBeta => "max β",
            Param::Power => "p",
            Param::Waves => "k",
            Param::Expr => "β(u)",
        }
    }

    /// The command-line flag of the parameter.
    pub fn flag(self) -> &'static str {
        match self {
            Param::Steps => "--steps",
            Param::BetaStart => "--beta-start",
            Param::BetaEnd => "--beta-end",
            Param::CosineS => "--cosine-s",
            Param::MaxBeta => "--max-beta",
            Param::Power => "--power",
            Param::Waves => "--waves",
            Param::Expr => "--expr",
        }
    }
}

/// Why a schedule is invalid.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ScheduleError {
    /// T outside 1..=100 000.
    #[error("--steps must be between 1 and {MAX_STEPS}, got {0}")]
    StepsOutOfRange(usize),
    /// A parameter outside its allowed range.
    #[error("{} {reason}, got {value}", param.flag())]
    InvalidParam {
        /// Which parameter.
        param: Param,
        /// Its value.
        value: f64,
        /// What it must satisfy.
        reason: &'static str,
    },
    /// The expression does not parse.
    #[error("--expr does not parse: {0}")]
    ExprParse(String),
    /// The expression gives a β outside (0, 1) or non-finite.
    #[error("--expr gives β = {value} at u = {u} (t = {t}); β must lie strictly inside (0, 1)")]
    ExprOutOfRange {
        /// The step.
        t: usize,
        /// u = (t−1)/(T−1).
        u: f64,
        /// The value it gave.
        value: f64,
    },
    /// A computed β outside (0, 1) or not finite.
    #[error("β_{t} = {value} is outside (0, 1); check the schedule parameters")]
    BetaOutOfRange {
        /// The step.
        t: usize,
        /// The value.
        value: f64,
    },
}

impl ScheduleError {
    /// The message for the app, which has no command-line flags: names the field as the app
    /// labels it, and explains an expression that does not parse in plain words with its place
    /// marked (#20 item 9). The CLI keeps the `Display` message, which names `--expr`.
    pub fn app_message(&self, expr: &str) -> String {
        match self {
            ScheduleError::ExprParse(m) => super::expr_help::app_message(expr, m),
            ScheduleError::ExprOutOfRange { t, u, value } => format!(
                "β(u) gives β = {value} at u = {u:.4} (t = {t}); β must lie strictly between 0 \
                 and 1"
            ),
            ScheduleError::InvalidParam {
                param,
                value,
                reason,
            } => format!("{} {reason}, got {value}", param.label()),
            other => other.to_string(),
        }
    }

    /// The parameter to blame, for highlighting it in the UI.
    pub fn param(&self) -> Option<Param> {
        match self {
            ScheduleError::StepsOutOfRange(_) => Some(Param::Steps),
            ScheduleError::InvalidParam { param, .. } => Some(*param),
            ScheduleError::ExprParse(_) | ScheduleError::ExprOutOfRange { .. } => Some(Param::Expr),
            ScheduleError::BetaOutOfRange { .. } => None,
        }
    }
}

/// A complete, editable description of a schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScheduleSpec {
    /// The family.
    pub kind: ScheduleKind,
    /// T, the number of diffusion steps (1..=100 000).
    pub steps: usize,
    /// β₁ (linear, scaled-linear, sigmoid, power, sine).
    pub beta_start: f64,
    /// β_T (linear, scaled-linear, sigmoid, power, sine).
    pub beta_end: f64,
    /// The cosine offset s (default 0.008).
    pub cosine_s: f64,
    /// The cosine clip on β (default 0.999).
    pub max_beta: f64,
    /// The exponent p of the power schedule (> 0).
    pub power: f64,
    /// The number of half-waves k ≥ 1 of the sine schedule.
    pub waves: u32,
    /// β(u) for the custom schedule, u ∈ [0, 1].
    pub expr: String,
    /// Rescale the schedule to zero terminal SNR (Lin et al. 2024; diffusers'
    /// `rescale_zero_terminal_snr`): √ᾱ_t is shifted and scaled so that √ᾱ₁ is kept and √ᾱ_T
    /// reaches 0, then ᾱ_T is floored at min(2⁻²⁴, ᾱ_{T−1}/2) so x̂₀ = (x − √(1 − ᾱ)·ε̂)/√ᾱ
    /// stays finite (diffusers' Euler sampler uses 2⁻²⁴ too). Train such a schedule with
    /// v-prediction: at ᾱ ≈ 0 an ε-prediction carries no information about x₀.
    pub zero_terminal_snr: bool,
}

/// The floor of ᾱ_T of a zero-terminal-SNR schedule (2⁻²⁴; see
/// [`ScheduleSpec::zero_terminal_snr`]).
pub const ZERO_SNR_ALPHA_BAR_FLOOR: f64 = 1.0 / 16_777_216.0;

/// Rescales β_1..β_T to (almost) zero terminal SNR: √ᾱ'_t = (√ᾱ_t − √ᾱ_T)·√ᾱ₁/(√ᾱ₁ − √ᾱ_T),
/// so √ᾱ'₁ = √ᾱ₁ and √ᾱ'_T = 0, then ᾱ'_T is floored at min(2⁻²⁴, ᾱ'_{T−1}/2) and β' is read
/// back from the ratios. Returns the betas unchanged for T < 2.
pub fn rescale_zero_terminal_snr(betas: &[f64]) -> Vec<f64> {
    let n = betas.len();
    if n < 2 {
        return betas.to_vec();
    }
    let mut sqrt_ab = Vec::with_capacity(n);
    let mut log_sum = 0.0f64;
    for &b in betas {
        log_sum += (-b).ln_1p();
        sqrt_ab.push((0.5 * log_sum).exp());
    }
    let (a1, at) = (sqrt_ab[0], sqrt_ab[n - 1]);
    if a1 <= at {
        return betas.to_vec();
    }
    let mut ab: Vec<f64> = sqrt_ab
        .iter()
        .map(|&s| ((s - at) * a1 / (a1 - at)).powi(2))
        .collect();
    ab[n - 1] = ZERO_SNR_ALPHA_BAR_FLOOR.min(ab[n - 2] / 2.0);
    let mut out = Vec::with_capacity(n);
    out.push(1.0 - ab[0]);
    out.extend(ab.windows(2).map(|w| 1.0 - w[1] / w[0]));
    out
}

impl Default for ScheduleSpec {
    fn default() -> Self {
        Self {
            kind: ScheduleKind::Linear,
            steps: 1000,
            beta_start: 1e-4,
            beta_end: 0.02,
            cosine_s: 0.008,
            max_beta: 0.999,
            power: 2.0,
            waves: 1,
            expr: "1e-4 + (0.02 - 1e-4) * u".to_owned(),
            zero_terminal_snr: false,
        }
    }
}

impl ScheduleSpec {
    /// The default parameters for `kind` with T = `steps`.
    pub fn new(kind: ScheduleKind, steps: usize) -> Self {
        Self {
            kind,
            steps,
            ..Self::default()
        }
    }

    /// A short human label, e.g. "cosine T=1000 s=0.008".
    pub fn label(&self) -> String {
        let base = self.base_label();
        if self.zero_terminal_snr {
            format!("{base} zero-SNR")
        } else {
            base
        }
    }

    fn base_label(&self) -> String {
        let t = self.steps;
        match self.kind {
            ScheduleKind::Cosine => format!("cosine T={t} s={}", self.cosine_s),
            ScheduleKind::Power => format!("power p={} T={t}", self.power),
            ScheduleKind::Sine => format!("sine k={} T={t}", self.waves),
            ScheduleKind::Custom => format!("custom β(u)={} T={t}", self.expr),
            k => format!("{k} T={t}"),
        }
    }

    fn check_params(&self) -> Result<(), ScheduleError> {
        let bad = |param, value, reason| {
            Err(ScheduleError::InvalidParam {
                param,
                value,
                reason,
            })
        };
        if self.steps == 0 || self.steps > MAX_STEPS {
            return Err(ScheduleError::StepsOutOfRange(self.steps));
        }
        let k = self.kind;
        let inside = |v: f64| v.is_finite() && v > 0.0 && v < 1.0;
        if k.uses(Param::BetaStart) && !inside(self.beta_start) {
            return bad(
                Param::BetaStart,
                self.beta_start,
                "must lie strictly inside (0, 1)",
            );
        }
        if k.uses(Param::BetaEnd) && !inside(self.beta_end) {
            return bad(
                Param::BetaEnd,
                self.beta_end,
                "must lie strictly inside (0, 1)",
            );
        }
        if k.uses(Param::CosineS) && !(self.cosine_s.is_finite() && self.cosine_s >= 0.0) {
            return bad(Param::CosineS, self.cosine_s, "must be finite and ≥ 0");
        }
        if k.uses(Param::MaxBeta) && !inside(self.max_beta) {
            return bad(
                Param::MaxBeta,
                self.max_beta,
                "must lie strictly inside (0, 1)",
            );
        }
        if k.uses(Param::Power) && !(self.power.is_finite() && self.power > 0.0) {
            return bad(Param::Power, self.power, "must be finite and > 0");
        }
        if k.uses(Param::Waves) && self.waves == 0 {
            return bad(Param::Waves, 0.0, "must be an integer ≥ 1");
        }
        Ok(())
    }

    /// Computes β_1..β_T, validating parameters and values.
    pub fn betas(&self) -> Result<Vec<f64>, ScheduleError> {
        self.check_params()?;
        let n = self.steps;
        // u = (t−1)/(T−1) ∈ [0, 1]; for T = 1 the single step sits at u = 0.
        let u = |i: usize| {
            if n == 1 {
                0.0
            } else {
                i as f64 / (n - 1) as f64
            }
        };
        let (b1, bt) = (self.beta_start, self.beta_end);
        let betas: Vec<f64> = match self.kind {
            ScheduleKind::Linear => (0..n).map(|i| b1 + (bt - b1) * u(i)).collect(),
            ScheduleKind::ScaledLinear => {
                let (s1, st) = (b1.sqrt(), bt.sqrt());
                (0..n).map(|i| (s1 + (st - s1) * u(i)).powi(2)).collect()
            }
            ScheduleKind::Cosine => {
                // f(τ) = cos²(((τ + s)/(1 + s))·π/2); β_t = min(1 − f(t/T)/f((t−1)/T), max_beta).
                let s = self.cosine_s;
                let f = |tau: f64| {
                    let c = ((tau + s) / (1.0 + s) * std::f64::consts::FRAC_PI_2).cos();
                    c * c
                };
                let tn = n as f64;
                (1..=n)
                    .map(|t| {
                        let raw = 1.0 - f(t as f64 / tn) / f((t - 1) as f64 / tn);
                        raw.min(self.max_beta)
                    })
                    .collect()
            }
            ScheduleKind::Sigmoid => (0..n)
                .map(|i| {
                    let x = -6.0 + 12.0 * u(i);
                    let sig = 1.0 / (1.0 + (-x).exp());
                    sig * (bt - b1) + b1
                })
                .collect(),
            ScheduleKind::Power => (0..n)
                .map(|i| b1 + (bt - b1) * u(i).powf(self.power))
                .collect(),
            ScheduleKind::Sine => {
                let k = f64::from(self.waves);
                (0..n)
                    .map(|i| {
                        let w = 0.5 - 0.5 * (std::f64::consts::PI * k * u(i)).cos();
                        b1 + (bt - b1) * w
                    })
                    .collect()
            }
            ScheduleKind::VDiffusion => {
                // β_t = 1 − ᾱ(t/T)/ᾱ((t−1)/T), with ᾱ₀ = 1 (not ᾱ(0) = e^−10⁻⁴), so that the
                // running product is ᾱ(t/T) itself.
                let tn = n as f64;
                let log_ab = |t: usize| -V_DIFFUSION_OFFSET - 10.0 * (t as f64 / tn).powi(2);
                (1..=n)
                    .map(|t| {
                        let prev = if t == 1 { 0.0 } else { log_ab(t - 1) };
                        -(log_ab(t) - prev).exp_m1()
                    })
                    .collect()
            }
            ScheduleKind::Custom => {
                let f = CustomExpr::parse(&self.expr)?;
                let mut out = Vec::with_capacity(n);
                for i in 0..n {
                    let value = f.eval(u(i));
                    if !(value.is_finite() && value > 0.0 && value < 1.0) {
                        return Err(ScheduleError::ExprOutOfRange {
                            t: i + 1,
                            u: u(i),
                            value,
                        });
                    }
                    out.push(value);
                }
                out
            }
        };
        let betas = if self.zero_terminal_snr {
            rescale_zero_terminal_snr(&betas)
        } else {
            betas
        };
        if let Some((i, &value)) = betas
            .iter()
            .enumerate()
            .find(|(_, b)| !(b.is_finite() && **b > 0.0 && **b < 1.0))
        {
            return Err(ScheduleError::BetaOutOfRange { t: i + 1, value });
        }
        Ok(betas)
    }

    /// Validates and builds the full table.
    pub fn table(&self) -> Result<ScheduleTable, ScheduleError> {
        Ok(ScheduleTable::from_betas(self.betas()?))
    }
}

// Numbers with an optional exponent ("1e-4", "2.5E+3"); exmex's default matcher has no exponents.
use exmex::MatchLiteral;
exmex::literal_matcher_from_pattern!(SciNumber, r"^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?");

type Expr = exmex::FlatEx<f64, exmex::FloatOpsFactory<f64>, SciNumber>;

/// The longest custom β(u) expression accepted, in characters.
pub const MAX_EXPR_LEN: usize = 1000;

/// A parsed custom β(u) expression. Only arithmetic and maths functions; no code runs.
///
/// Syntax (exmex): `+ - * / ^`, parentheses, `sin cos tan exp log sqrt abs …`, `PI`, `E`.
/// Unary minus binds tighter than `^`, so write `-(u^2)` for −u².
pub struct CustomExpr {
    expr: Expr,
    uses_u: bool,
}

impl CustomExpr {
    /// Parses `src`, which may use the single variable `u`.
    pub fn parse(src: &str) -> Result<Self, ScheduleError> {
        use exmex::Express;
        if src.trim().is_empty() {
            return Err(ScheduleError::ExprParse("the expression is empty".into()));
        }
        // Evaluation time grows with the length (once per t, up to T = 100,000 times), and no
        // schedule needs more than a few terms (#18 item 7).
        let len = src.chars().count();
        if len > MAX_EXPR_LEN {
            return Err(ScheduleError::ExprParse(format!(
                "the expression is {len} characters long; at most {MAX_EXPR_LEN} are allowed"
            )));
        }
        let expr = Expr::parse(src).map_err(|e| ScheduleError::ExprParse(e.to_string()))?;
        let vars = expr.var_names();
        if let Some(other) = vars.iter().find(|v| v.as_str() != "u") {
            return Err(ScheduleError::ExprParse(format!(
                "unknown variable '{other}'; the only variable is u"
            )));
        }
        let uses_u = !vars.is_empty();
        Ok(Self { expr, uses_u })
    }

    /// β at u.
    pub fn eval(&self, u: f64) -> f64 {
        use exmex::Express;
        let args: &[f64] = if self.uses_u { &[u] } else { &[] };
        self.expr.eval(args).unwrap_or(f64::NAN)
    }
}

/// Every per-step quantity of a schedule, in f64, for t = 1..=T (index t−1).
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleTable {
    /// β_t.
    pub beta: Vec<f64>,
    /// α_t = 1 − β_t.
    pub alpha: Vec<f64>,
    /// ᾱ_t, the running product of α.
    pub alpha_bar: Vec<f64>,
    /// 1 − ᾱ_t, computed without cancellation.
    pub one_minus_alpha_bar: Vec<f64>,
    /// β̃_t = (1 − ᾱ_{t−1})/(1 − ᾱ_t)·β_t, with β̃₁ = 0.
    pub beta_tilde: Vec<f64>,
    /// √ᾱ_t, the signal rate.
    pub sqrt_alpha_bar: Vec<f64>,
    /// √(1 − ᾱ_t), the noise rate.
    pub sqrt_one_minus_alpha_bar: Vec<f64>,
    /// SNR_t = ᾱ_t/(1 − ᾱ_t).
    pub snr: Vec<f64>,
    /// ln SNR_t = ln ᾱ_t − ln(1 − ᾱ_t), finite even where ᾱ underflows.
    pub log_snr: Vec<f64>,
}

impl ScheduleTable {
    /// Builds the table from β_1..β_T (assumed valid).
    pub fn from_betas(beta: Vec<f64>) -> Self {
        let n = beta.len();
        let alpha: Vec<f64> = beta.iter().map(|b| 1.0 - b).collect();
        let mut alpha_bar = Vec::with_capacity(n);
        let mut log_alpha_bar = Vec::with_capacity(n);
        let (mut prod, mut log_sum) = (1.0_f64, 0.0_f64);
        for (&a, &b) in alpha.iter().zip(&beta) {
            prod *= a;
            log_sum += (-b).ln_1p();
            alpha_bar.push(prod);
            log_alpha_bar.push(log_sum);
        }
        // 1 − ᾱ = −expm1(ln ᾱ) keeps full precision when ᾱ is close to 1.
        let one_minus_alpha_bar: Vec<f64> = log_alpha_bar.iter().map(|l| -l.exp_m1()).collect();
        let beta_tilde = (0..n)
            .map(|i| {
                let prev = if i == 0 {
                    0.0
                } else {
                    one_minus_alpha_bar[i - 1]
                };
                prev / one_minus_alpha_bar[i] * beta[i]
            })
            .collect();
        let sqrt_alpha_bar = alpha_bar.iter().map(|a| a.sqrt()).collect();
        let sqrt_one_minus_alpha_bar = one_minus_alpha_bar.iter().map(|a| a.sqrt()).collect();
        let snr = alpha_bar
            .iter()
            .zip(&one_minus_alpha_bar)
            .map(|(a, m)| a / m)
            .collect();
        let log_snr = log_alpha_bar
            .iter()
            .zip(&one_minus_alpha_bar)
            .map(|(l, m)| l - m.ln())
            .collect();
        Self {
            beta,
            alpha,
            alpha_bar,
            one_minus_alpha_bar,
            beta_tilde,
            sqrt_alpha_bar,
            sqrt_one_minus_alpha_bar,
            snr,
            log_snr,
        }
    }

    /// T.
    pub fn steps(&self) -> usize {
        self.beta.len()
    }

    /// ᾱ_t for t in 0..=T, with ᾱ₀ = 1.
    pub fn alpha_bar_at(&self, t: usize) -> f64 {
        if t == 0 { 1.0 } else { self.alpha_bar[t - 1] }
    }

    /// 1 − ᾱ_t for t in 0..=T, with 1 − ᾱ₀ = 0.
    pub fn one_minus_alpha_bar_at(&self, t: usize) -> f64 {
        if t == 0 {
            0.0
        } else {
            self.one_minus_alpha_bar[t - 1]
        }
    }

    /// The summary badges.
    pub fn badges(&self) -> Badges {
        let n = self.steps();
        Badges {
            alpha_bar_final: self.alpha_bar[n - 1],
            snr_final: self.snr[n - 1],
            first_t_alpha_bar_below_half: self
                .alpha_bar
                .iter()
                .position(|&a| a < 0.5)
                .map(|i| i + 1),
            beta_strictly_inside_unit: self.beta.iter().all(|&b| b > 0.0 && b < 1.0),
            alpha_bar_strictly_decreasing: self.alpha_bar.first().is_some_and(|&a| a < 1.0)
                && self.alpha_bar.windows(2).all(|w| w[1] < w[0]),
            terminal_snr_warning: terminal_snr_warning(self.alpha_bar[n - 1]),
        }
    }

    /// ln ᾱ_t for t in 0..=T (ln ᾱ₀ = 0), finite even where ᾱ_t underflows.
    pub fn log_alpha_bar_at(&self, t: usize) -> f64 {
        if t == 0 {
            0.0
        } else {
            self.log_snr[t - 1] + self.one_minus_alpha_bar[t - 1].ln()
        }
    }

    /// The schedule at a continuous t ∈ [0, T]: ln ᾱ is interpolated linearly between the
    /// integer steps (ln ᾱ₀ = 0), which is exact at every integer t ≥ 1 and, for v-diffusion
    /// (whose ln ᾱ is quadratic in t, with second derivative 20/T²), within 2.5/T² of its
    /// curve between them. Below t = 1 it runs to ln ᾱ₀ = 0 rather than the seed's −10⁻⁴
    /// (the first 1/T of a continuous draw). Continuous-time training draws t here, and a log-SNR-conditioned
    /// network reads its input from it, so both see one curve.
    pub fn at_continuous(&self, t: f64) -> ContinuousPoint {
        let big_t = self.steps();
        let t = if t.is_finite() {
            t.clamp(0.0, big_t as f64)
        } else {
            0.0
        };
        let i = (t.floor() as usize).min(big_t.saturating_sub(1));
        let frac = t - i as f64;
        let la = (1.0 - frac) * self.log_alpha_bar_at(i) + frac * self.log_alpha_bar_at(i + 1);
        let one_minus = -la.exp_m1();
        ContinuousPoint {
            alpha_bar: la.exp(),
            one_minus_alpha_bar: one_minus,
            // λ = ln ᾱ − ln(1 − ᾱ); +∞ at t = 0 is capped, as no network input may be infinite.
            log_snr: (la - one_minus.ln()).min(MAX_LOG_SNR),
        }
    }

    /// The first t (1-based) with log-SNR at or below `log_snr`, or T if none.
    pub fn t_at_log_snr(&self, log_snr: f64) -> usize {
        self.log_snr
            .iter()
            .position(|&l| l <= log_snr)
            .map_or(self.steps(), |i| i + 1)
    }
}

/// The offset in seed 000's ln ᾱ(u) = −10⁻⁴ − 10u² ([`ScheduleKind::VDiffusion`]).
pub const V_DIFFUSION_OFFSET: f64 = 1e-4;

/// The largest log-SNR [`ScheduleTable::at_continuous`] reports (at t → 0, where it is +∞).
pub const MAX_LOG_SNR: f64 = 30.0;

/// The schedule at a continuous t ([`ScheduleTable::at_continuous`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ContinuousPoint {
    /// ᾱ(t).
    pub alpha_bar: f64,
    /// 1 − ᾱ(t), without cancellation.
    pub one_minus_alpha_bar: f64,
    /// λ(t) = ln SNR(t), at most [`MAX_LOG_SNR`].
    pub log_snr: f64,
}

/// One-line facts about a schedule, shown as badges.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Badges {
    /// ᾱ_T.
    pub alpha_bar_final: f64,
    /// SNR_T.
    pub snr_final: f64,
    /// The first t with ᾱ_t < ½, if any.
    pub first_t_alpha_bar_below_half: Option<usize>,
    /// Every β lies strictly inside (0, 1).
    pub beta_strictly_inside_unit: bool,
    /// ᾱ is strictly decreasing (starting below ᾱ₀ = 1).
    pub alpha_bar_strictly_decreasing: bool,
    /// ᾱ_T > [`TERMINAL_ALPHA_BAR_LIMIT`]: x_T is not pure noise (the terminal-SNR warning).
    pub terminal_snr_warning: bool,
}
