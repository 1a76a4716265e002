// The MODAL interaction callback (type 9): what Discord refuses in its `data`, and the MODAL_SUBMIT payload a user's
// submission produces. Docs = discord-api-docs (mirror of 2026-08-06): interactions/receiving-and-responding.mdx
// ("Modal": custom_id 1-100 characters, title max 45, "Between 1 and 5 (inclusive) components"; MODAL is "Not available
// for MODAL_SUBMIT and PING interactions"), components/reference.mdx ("Label": label max 45, description max 100, one
// child component; "Text Input": custom_id 1-100, style 1 Short / 2 Paragraph, min_length 0-4000, max_length 1-4000,
// value max 4000, placeholder max 100, required defaults to true; "Text Inputs can only be used within modals and must
// be placed inside a Label", the action-row form "no longer recommended" but still accepted; "Text Input Interaction
// Response Structure": type, id, custom_id, value; "Label Interaction Response Structure": type, id, component).
// Spec = discord/discord-api-spec openapi.json ModalInteractionCallbackRequestData, LabelComponentForModalRequest,
// TextInputComponentForModalRequest (the same limits).
import { ComponentType, TextInputStyle } from 'discord-api-types/v10';
import { type FormErrors, type Path, badLength, choices, length, maxLength, required } from './formErrors';

const CUSTOM_ID_DUPLICATED = {
  code: 'COMPONENT_CUSTOM_ID_DUPLICATED',
  message: 'Component custom id cannot be duplicated',
};
// Discord's wording of an integer out of range (NUMBER_TYPE_MIN / NUMBER_TYPE_MAX), as bots have logged it.
const outOfRange = (min: number, max: number) => ({
  code: 'NUMBER_TYPE_MAX',
  message: `int value should be between ${min} and ${max}.`,
});

function checkTextInput(errors: FormErrors, path: Path, t: any, ids: Set<string>, inLabel: boolean): void {
  if (typeof t?.custom_id !== 'string' || t.custom_id === '') errors.add([...path, 'custom_id'], required());
  else if (length(t.custom_id) > 100) errors.add([...path, 'custom_id'], badLength(1, 100));
  else if (ids.has(t.custom_id)) errors.add([...path, 'custom_id'], CUSTOM_ID_DUPLICATED);
  else ids.add(t.custom_id);
  if (![TextInputStyle.Short, TextInputStyle.Paragraph].includes(t?.style))
    errors.add([...path, 'style'], { code: 'BASE_TYPE_CHOICES', message: 'Value must be one of {1, 2}.' });
  // Inside a Label the label lives on the Label; in a legacy action row the text input carries its own (1-45).
  if (!inLabel) {
    if (typeof t?.label !== 'string' || t.label === '') errors.add([...path, 'label'], required());
    else errors.max([...path, 'label'], t.label, 45);
  }
  const int = (v: unknown) => Number.isInteger(v);
  const present = (v: unknown) => v !== undefined && v !== null;
  if (present(t?.min_length) && (!int(t.min_length) || t.min_length < 0 || t.min_length > 4000))
    errors.add([...path, 'min_length'], outOfRange(0, 4000));
  if (present(t?.max_length) && (!int(t.max_length) || t.max_length < 1 || t.max_length > 4000))
    errors.add([...path, 'max_length'], outOfRange(1, 4000));
  errors.max([...path, 'placeholder'], t?.placeholder, 100);
  if (typeof t?.value === 'string' && length(t.value) > 4000) errors.add([...path, 'value'], maxLength(4000));
}

/** Checks the `data` of a MODAL callback (errors under `data.`). */
export function checkModal(errors: FormErrors, data: any): void {
  if (typeof data?.custom_id !== 'string' || data.custom_id === '') errors.add(['custom_id'], required());
  else if (length(data.custom_id) > 100) errors.add(['custom_id'], badLength(1, 100));
  if (typeof data?.title !== 'string' || data.title === '') errors.add(['title'], required());
  else errors.max(['title'], data.title, 45);
  const components = data?.components;
  if (!Array.isArray(components) || components.length < 1 || components.length > 5) {
    errors.add(['components'], badLength(1, 5));
    return;
  }
  const ids = new Set<string>();
  components.forEach((c: any, i: number) => {
    const path = ['components', i];
    if (c?.type === ComponentType.Label) {
      if (typeof c.label !== 'string' || c.label === '') errors.add([...path, 'label'], required());
      else errors.max([...path, 'label'], c.label, 45);
      errors.max([...path, 'description'], c.description, 100);
      if (c.component?.type !== ComponentType.TextInput)
        // Other Label children (selects, file uploads…) exist; the emulator only takes what the bot sends.
        errors.add([...path, 'component'], choices('type', [ComponentType.TextInput]));
      else checkTextInput(errors, [...path, 'component'], c.component, ids, true);
    } else if (c?.type === ComponentType.ActionRow) {
      const items = c.components;
      if (!Array.isArray(items) || items.length !== 1) errors.add([...path, 'components'], badLength(1, 1));
      else if (items[0]?.type !== ComponentType.TextInput)
        errors.add([...path, 'components', 0], choices('type', [ComponentType.TextInput]));
      else checkTextInput(errors, [...path, 'components', 0], items[0], ids, false);
    } else if (c?.type !== ComponentType.TextDisplay) {
      errors.add(path, choices('type', [ComponentType.ActionRow, ComponentType.Label, ComponentType.TextDisplay]));
    }
  });
}

/** The text inputs of a modal, in order, wherever they sit (a Label or a legacy action row). */
export function modalTextInputs(modal: any): { where: 'label' | 'row'; index: number; input: any }[] {
  const found: { where: 'label' | 'row'; index: number; input: any }[] = [];
  (modal?.components ?? []).forEach((c: any, index: number) => {
    if (c?.type === ComponentType.Label && c.component?.type === ComponentType.TextInput)
      found.push({ where: 'label', index, input: c.component });
    if (c?.type === ComponentType.ActionRow && c.components?.[0]?.type === ComponentType.TextInput)
      found.push({ where: 'row', index, input: c.components[0] });
  });
  return found;
}

/**
 * What a user's submission of `modal` with `values` (by text input custom_id) sends as MODAL_SUBMIT `data`; throws
 * what the Discord client would not let the user submit (a required input left empty, a value outside min/max).
 */
export function modalSubmitData(modal: any, values: Record<string, string>): any {
  const inputs = modalTextInputs(modal);
  for (const key of Object.keys(values)) {
    if (!inputs.some((i) => i.input.custom_id === key)) throw new Error(`the modal has no text input "${key}"`);
  }
  let id = 0;
  const components = inputs.map(({ where, input }) => {
    const value = values[input.custom_id] ?? input.value ?? '';
    const min = input.min_length ?? 0;
    const max = input.max_length ?? 4000;
    if ((input.required ?? true) && value === '') throw new Error(`the modal's "${input.custom_id}" is required`);
    if (value !== '' && (length(value) < min || length(value) > max))
      throw new Error(`the modal's "${input.custom_id}" takes ${min} to ${max} characters`);
    const answer = { type: ComponentType.TextInput, id: ++id, custom_id: input.custom_id, value };
    return where === 'label'
      ? { type: ComponentType.Label, id: ++id, component: answer }
      : { type: ComponentType.ActionRow, id: ++id, components: [answer] };
  });
  return { custom_id: modal.custom_id, components };
}
