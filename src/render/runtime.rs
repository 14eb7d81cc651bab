//! The Liquid runtime a render runs in: the event as the root scope, tolerant of missing paths.
//!
//! liquid's own runtime fails a render on an unknown variable or index. Here every lookup walks
//! the path itself: a missing step is recorded (in colon form, for preview) and yields nil (or
//! `0` while validating a schema), so a delivery never fails for a placeholder. A value that is
//! present but null is not unknown, nor is anything below it.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use liquid_core::model::{KString, KStringCow, KStringRef, ObjectView, ScalarCow, Value, ValueCow};
use liquid_core::runtime::{PartialStore, Registers, Renderable};
use liquid_core::{Error, Object, Result, Runtime, ValueView};

use super::view::Json;

/// Alias naming the event itself: `{{ event.type }}`, `{{event:type}}`.
const EVENT_ALIAS: &str = "event";
/// Alias the translator uses for models whose names Liquid cannot parse as a variable.
pub(crate) const ROOT_ALIAS: &str = "__hl_root";

/// What a missing value renders as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Fill {
    /// Nil: renders as the empty string (deliveries and preview).
    #[default]
    Nil,
    /// The number 0 (schema validation, so `"id": {{ticket:nope}}` stays well-formed).
    Zero,
}

/// Why a render was stopped by a bound (the liquid error alone cannot say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stop {
    TooLarge,
    TooLong(String),
}

/// Per-render state shared by the runtime, blocks and filters (one liquid register).
#[derive(Debug)]
pub(crate) struct RenderState {
    pub(crate) fill: Fill,
    pub(crate) unknowns: Vec<String>,
    /// Greater than 0 while rendering a `{% capture %}` body (values are captured unescaped).
    pub(crate) capture_depth: u32,
    /// For-loop iterations started so far.
    pub(crate) iterations: u64,
    pub(crate) started: Instant,
    pub(crate) stop: Option<Stop>,
}

impl Default for RenderState {
    fn default() -> Self {
        RenderState {
            fill: Fill::Nil,
            unknowns: Vec::new(),
            capture_depth: 0,
            iterations: 0,
            started: Instant::now(),
            stop: None,
        }
    }
}

impl RenderState {
    /// Records an unknown path once, in colon form.
    fn record(&mut self, path: &[ScalarCow<'_>]) {
        let name = colon_name(path);
        if !self.unknowns.contains(&name) {
            self.unknowns.push(name);
        }
    }

    fn fill_value(&self) -> Value {
        match self.fill {
            Fill::Nil => Value::Nil,
            Fill::Zero => Value::scalar(0i64),
        }
    }

    /// Records a stop reason and builds the liquid error that unwinds the render.
    pub(crate) fn stop(&mut self, stop: Stop) -> Error {
        let message = match &stop {
            Stop::TooLarge => "output limit reached".to_owned(),
            Stop::TooLong(reason) => reason.clone(),
        };
        self.stop.get_or_insert(stop);
        Error::with_msg(message)
    }
}

/// `ticket.custom.region` → `ticket:custom.region`; a single name stays as it is.
fn colon_name(path: &[ScalarCow<'_>]) -> String {
    let skip = usize::from(path.len() > 1 && path[0].to_kstr() == ROOT_ALIAS);
    let mut parts = path[skip..].iter().map(|p| p.to_kstr().as_str().to_owned());
    let mut name = parts.next().unwrap_or_default();
    for (i, part) in parts.enumerate() {
        name.push(if i == 0 { ':' } else { '.' });
        name.push_str(&part);
    }
    name
}

/// The state register of a runtime.
pub(crate) fn state(runtime: &dyn Runtime) -> std::cell::RefMut<'_, RenderState> {
    runtime.registers().get_mut::<RenderState>()
}

/// One step down a path.
enum Step<'v> {
    Found(&'v dyn ValueView),
    Computed(Value),
    /// The parent is present but nil: no value, yet nothing unknown either.
    NilParent,
    Missing,
}

/// Liquid's indexing rules: array index (negative from the end), `first`/`last`/`size`,
/// object key, then `size`.
fn step<'v>(value: &'v dyn ValueView, index: &ScalarCow<'_>) -> Step<'v> {
    if value.is_nil() {
        return Step::NilParent;
    }
    if let Some(array) = value.as_array() {
        if let Some(i) = index.to_integer() {
            return array.get(i).map_or(Step::Missing, Step::Found);
        }
        return match index.to_kstr().as_str() {
            "first" => array.first().map_or(Step::NilParent, Step::Found),
            "last" => array.last().map_or(Step::NilParent, Step::Found),
            "size" => Step::Computed(Value::scalar(array.size())),
            _ => Step::Missing,
        };
    }
    let key = index.to_kstr();
    if let Some(object) = value.as_object() {
        return match object.get(key.as_str()) {
            Some(found) => Step::Found(found),
            None if key == "size" => Step::Computed(Value::scalar(object.size())),
            None => Step::Missing,
        };
    }
    match value.as_scalar() {
        Some(scalar) if key == "size" => {
            let len = scalar.to_kstr().len();
            Step::Computed(Value::scalar(i64::try_from(len).unwrap_or(i64::MAX)))
        }
        _ => Step::Missing,
    }
}

/// Walks `path[skip..]` from `root` (the value `path[..skip]` named); `None` when missing.
/// `Err(())` carries "parent was nil", which is a value (nil) rather than a miss.
fn walk<'v>(
    root: &'v dyn ValueView,
    path: &[ScalarCow<'_>],
    skip: usize,
) -> std::result::Result<ValueCow<'v>, bool> {
    let mut current = root;
    let rest = path.get(skip..).unwrap_or_default();
    for (i, index) in rest.iter().enumerate() {
        match step(current, index) {
            Step::Found(next) => current = next,
            Step::Computed(value) if i + 1 == rest.len() => return Ok(ValueCow::Owned(value)),
            Step::Computed(_) | Step::Missing => return Err(true),
            Step::NilParent => return Err(false),
        }
    }
    Ok(ValueCow::Borrowed(current))
}

/// Resolves a path, recording it as unknown and filling it in when it is missing.
pub(crate) fn resolve<'v>(
    root: &'v dyn ValueView,
    path: &[ScalarCow<'_>],
    skip: usize,
    registers: &Registers,
) -> ValueCow<'v> {
    match walk(root, path, skip) {
        Ok(found) => found,
        Err(missing) => ValueCow::Owned(missing_value(path, missing, registers)),
    }
}

/// Resolves a path for an existence check (`{% if x %}`): a missing path is recorded, but
/// stays missing (falsy) rather than being filled in.
pub(crate) fn try_resolve<'v>(
    root: &'v dyn ValueView,
    path: &[ScalarCow<'_>],
    skip: usize,
    registers: &Registers,
) -> Option<ValueCow<'v>> {
    match walk(root, path, skip) {
        Ok(found) => Some(found),
        Err(missing) => {
            if missing {
                registers.get_mut::<RenderState>().record(path);
            }
            None
        }
    }
}

/// The value a missing path renders as; records it when `missing` (not merely under nil).
fn missing_value(path: &[ScalarCow<'_>], missing: bool, registers: &Registers) -> Value {
    let mut state = registers.get_mut::<RenderState>();
    if missing {
        state.record(path);
        state.fill_value()
    } else {
        Value::Nil
    }
}

/// The root runtime of a render: assigned variables over the event.
pub(crate) struct EventRuntime<'e> {
    event: &'e Json,
    globals: RefCell<Object>,
    indexes: RefCell<Object>,
    registers: Registers,
}

impl<'e> EventRuntime<'e> {
    /// A runtime over `event`; the render clock starts now.
    pub(crate) fn new(event: &'e serde_json::Value, fill: Fill) -> Self {
        let runtime = EventRuntime {
            event: Json::new(event),
            globals: RefCell::new(Object::new()),
            indexes: RefCell::new(Object::new()),
            registers: Registers::default(),
        };
        runtime.registers.get_mut::<RenderState>().fill = fill;
        runtime
    }

    /// The state left by the render (unknowns, stop reason).
    pub(crate) fn into_state(self) -> RenderState {
        std::mem::take(&mut *self.registers.get_mut::<RenderState>())
    }

    /// The value a path's first segment names in the event, and how many segments it used.
    fn event_root(&self, path: &[ScalarCow<'_>]) -> Option<(&'e dyn ValueView, usize)> {
        let name = path.first()?.to_kstr();
        let event: &'e dyn ValueView = self.event;
        match name.as_str() {
            EVENT_ALIAS => Some((event, 1)),
            ROOT_ALIAS => match path.get(1) {
                None => Some((event, 1)),
                Some(model) => Some((self.member(&model.to_kstr())?, 2)),
            },
            other => Some((self.member(other)?, 1)),
        }
    }

    fn member(&self, name: &str) -> Option<&'e dyn ValueView> {
        let event: &'e Json = self.event;
        ObjectView::get(event, name)
    }

    /// Looks a path up in the assigned variables (values are cloned out of the cell).
    fn global(&self, path: &[ScalarCow<'_>], record: bool) -> Option<Option<Value>> {
        let globals = self.globals.borrow();
        let root = globals.get(path.first()?.to_kstr().as_str())?;
        let found = if record {
            Some(resolve(root.as_view(), path, 1, &self.registers).into_owned())
        } else {
            try_resolve(root.as_view(), path, 1, &self.registers).map(ValueCow::into_owned)
        };
        Some(found)
    }
}

impl Runtime for EventRuntime<'_> {
    fn partials(&self) -> &dyn PartialStore {
        &NoPartials
    }

    fn name(&self) -> Option<KStringRef<'_>> {
        None
    }

    fn roots(&self) -> BTreeSet<KStringCow<'_>> {
        let mut roots: BTreeSet<KStringCow<'_>> = ObjectView::keys(self.event).collect();
        roots.extend(
            self.globals
                .borrow()
                .keys()
                .map(|k| KStringCow::from_string(k.to_string())),
        );
        roots
    }

    fn try_get(&self, path: &[ScalarCow<'_>]) -> Option<ValueCow<'_>> {
        if let Some(found) = self.global(path, false) {
            return found.map(ValueCow::Owned);
        }
        match self.event_root(path) {
            Some((root, skip)) => try_resolve(root, path, skip, &self.registers),
            None => {
                // `forloop` outside any loop is how a `for` probes for its parent loop.
                if path.first().is_some_and(|p| p.to_kstr() != "forloop") {
                    self.registers.get_mut::<RenderState>().record(path);
                }
                None
            }
        }
    }

    fn get(&self, path: &[ScalarCow<'_>]) -> Result<ValueCow<'_>> {
        if let Some(found) = self.global(path, true) {
            return Ok(ValueCow::Owned(found.unwrap_or(Value::Nil)));
        }
        Ok(match self.event_root(path) {
            Some((root, skip)) => resolve(root, path, skip, &self.registers),
            None => ValueCow::Owned(missing_value(path, true, &self.registers)),
        })
    }

    fn set_global(&self, name: KString, val: Value) -> Option<Value> {
        self.globals.borrow_mut().insert(name, val)
    }

    fn set_index(&self, name: KString, val: Value) -> Option<Value> {
        self.indexes.borrow_mut().insert(name, val)
    }

    fn get_index<'a>(&'a self, name: &str) -> Option<ValueCow<'a>> {
        self.indexes
            .borrow()
            .get(name)
            .map(|v| ValueCow::Owned(v.clone()))
    }

    fn registers(&self) -> &Registers {
        &self.registers
    }
}

/// Schemas cannot include other templates.
#[derive(Debug)]
struct NoPartials;

impl PartialStore for NoPartials {
    fn contains(&self, _name: &str) -> bool {
        false
    }

    fn names(&self) -> Vec<&str> {
        Vec::new()
    }

    fn try_get(&self, _name: &str) -> Option<Arc<dyn Renderable>> {
        None
    }

    fn get(&self, name: &str) -> Result<Arc<dyn Renderable>> {
        Err(Error::with_msg("templates cannot include other templates")
            .context("name", name.to_owned()))
    }
}

/// The scope of one for-loop iteration: the loop variable and `forloop` over the parent scope.
pub(crate) struct LoopFrame<'p> {
    pub(crate) parent: &'p dyn Runtime,
    pub(crate) var: &'p str,
    pub(crate) item: &'p dyn ValueView,
    pub(crate) forloop: &'p dyn ValueView,
}

impl LoopFrame<'_> {
    fn local(&self, path: &[ScalarCow<'_>]) -> Option<&dyn ValueView> {
        let name = path.first()?.to_kstr();
        if name == self.var {
            Some(self.item)
        } else if name == "forloop" {
            Some(self.forloop)
        } else {
            None
        }
    }
}

impl Runtime for LoopFrame<'_> {
    fn partials(&self) -> &dyn PartialStore {
        self.parent.partials()
    }

    fn name(&self) -> Option<KStringRef<'_>> {
        self.parent.name()
    }

    fn roots(&self) -> BTreeSet<KStringCow<'_>> {
        let mut roots = self.parent.roots();
        roots.insert(KStringCow::from_ref(self.var));
        roots.insert(KStringCow::from_static("forloop"));
        roots
    }

    fn try_get(&self, path: &[ScalarCow<'_>]) -> Option<ValueCow<'_>> {
        match self.local(path) {
            Some(root) => try_resolve(root, path, 1, self.registers()),
            None => self.parent.try_get(path),
        }
    }

    fn get(&self, path: &[ScalarCow<'_>]) -> Result<ValueCow<'_>> {
        match self.local(path) {
            Some(root) => Ok(resolve(root, path, 1, self.registers())),
            None => self.parent.get(path),
        }
    }

    fn set_global(&self, name: KString, val: Value) -> Option<Value> {
        self.parent.set_global(name, val)
    }

    fn set_index(&self, name: KString, val: Value) -> Option<Value> {
        self.parent.set_index(name, val)
    }

    fn get_index<'a>(&'a self, name: &str) -> Option<ValueCow<'a>> {
        self.parent.get_index(name)
    }

    fn registers(&self) -> &Registers {
        self.parent.registers()
    }
}
