// Message components (legacy layout: up to 5 action rows; v2 layout with IS_COMPONENTS_V2 only gets the per-component
// rules). Sources, rule by rule, in the comments; docs = discord-api-docs developers/components/reference.mdx,
// spec = discord/discord-api-spec specs/openapi.json.
import { ButtonStyle, ComponentType } from 'discord-api-types/v10';
import { type FormErrors, type Path, badLength, choices, length, maxLength, required } from './formErrors';

// docs "Legacy Message Component Behavior": "Legacy messages allow up to 5 action rows as top-level components";
// over it Discord answers `components: Must be 5 or fewer in length.` (BASE_TYPE_MAX_LENGTH, as quoted by bots hit by it).
const MAX_ROWS = 5;
// docs "Action Row": up to 5 buttons or a single select; spec ActionRowComponentForMessageRequest.components
// minItems 1, maxItems 5 → `components.0.components: Must be between 1 and 5 in length.` (BASE_TYPE_BAD_LENGTH).
const MAX_ROW_ITEMS = 5;
// What an action row may hold in a message: spec ActionRowComponentForMessageRequest.components.items.oneOf.
const SELECTS = [
  ComponentType.StringSelect,
  ComponentType.UserSelect,
  ComponentType.RoleSelect,
  ComponentType.MentionableSelect,
  ComponentType.ChannelSelect,
];
const ROW_CHILDREN = [ComponentType.Button, ...SELECTS];
const BUTTON_STYLES = Object.values(ButtonStyle).filter((v): v is number => typeof v === 'number');

// Error codes/messages seen from Discord (sources: ../README.md):
const CUSTOM_ID_DUPLICATED = {
  code: 'COMPONENT_CUSTOM_ID_DUPLICATED',
  message: 'Component custom id cannot be duplicated',
};
const CUSTOM_ID_REQUIRED = { code: 'BUTTON_COMPONENT_CUSTOM_ID_REQUIRED', message: 'A custom id is required' };
const URL_REQUIRED = { code: 'BUTTON_COMPONENT_URL_REQUIRED', message: 'A url is required' };
const CUSTOM_ID_URL_EXCLUSIVE = {
  code: 'BUTTON_COMPONENT_CUSTOM_ID_URL_MUTUALLY_EXCLUSIVE',
  message: 'A custom id and url cannot both be specified',
};
const WIDTH_EXCEEDED = {
  code: 'COMPONENT_LAYOUT_WIDTH_EXCEEDED',
  message: 'The specified component exceeds the maximum width',
};

const isSelect = (c: any) => SELECTS.includes(c?.type);
const present = (v: unknown) => v !== undefined && v !== null;

class ComponentChecker {
  private readonly customIds = new Set<string>();
  constructor(private readonly errors: FormErrors) {}

  /** custom_id: 1-100 characters (docs "Custom ID", spec minLength 1 / maxLength 100), unique per message, disabled
   * components included (https://github.com/discord/discord-api-docs/issues/3673). */
  private customId(path: Path, c: any, missing: { code: string; message: string }): void {
    const id = c.custom_id;
    if (typeof id !== 'string' || id === '') {
      this.errors.add([...path, 'custom_id'], missing);
      return;
    }
    if (length(id) > 100) this.errors.add([...path, 'custom_id'], badLength(1, 100));
    else if (this.customIds.has(id)) this.errors.add([...path, 'custom_id'], CUSTOM_ID_DUPLICATED);
    this.customIds.add(id);
  }

  /** docs "Button": non-link buttons need custom_id and no url; link buttons need url (≤ 512) and no custom_id;
   * label ≤ 80. */
  button(path: Path, b: any): void {
    if (!BUTTON_STYLES.includes(b.style)) {
      // BASE_TYPE_CHOICES is worded with braces, e.g. "Value must be one of {4, 5, 9, 10, 11}." in the 400 body of
      // brainboxdotcc/DPP src/unittest/errors.cpp.
      this.errors.add([...path, 'style'], {
        code: 'BASE_TYPE_CHOICES',
        message: `Value must be one of {${BUTTON_STYLES.join(', ')}}.`,
      });
      return;
    }
    this.errors.max([...path, 'label'], b.label, 80);
    if (b.style === ButtonStyle.Link) {
      if (typeof b.url !== 'string' || !b.url) this.errors.add([...path, 'url'], URL_REQUIRED);
      else this.errors.max([...path, 'url'], b.url, 512);
      if (present(b.custom_id)) this.errors.add([...path, 'custom_id'], CUSTOM_ID_URL_EXCLUSIVE);
    } else if (b.style !== ButtonStyle.Premium) {
      this.customId(path, b, CUSTOM_ID_REQUIRED);
      if (present(b.url)) this.errors.add([...path, 'url'], CUSTOM_ID_URL_EXCLUSIVE);
    }
  }

  /** docs "String Select": custom_id 1-100, placeholder ≤ 150, 1-25 options, option label/value 1-100,
   * description ≤ 100 (spec StringSelectComponentForMessageRequest, StringSelectOptionForRequest). */
  select(path: Path, s: any): void {
    if (s.custom_id === undefined || s.custom_id === null) this.errors.add([...path, 'custom_id'], required());
    else this.customId(path, s, badLength(1, 100));
    this.errors.max([...path, 'placeholder'], s.placeholder, 150);
    if (s.type !== ComponentType.StringSelect) return;
    const options = s.options;
    if (!Array.isArray(options)) this.errors.add([...path, 'options'], required());
    else if (options.length < 1 || options.length > 25) this.errors.add([...path, 'options'], badLength(1, 25));
    else
      options.forEach((o: any, k: number) => {
        for (const key of ['label', 'value'] as const) {
          const v = o?.[key];
          if (typeof v !== 'string') this.errors.add([...path, 'options', k, key], required());
          else if (length(v) < 1 || length(v) > 100) this.errors.add([...path, 'options', k, key], badLength(1, 100));
        }
        this.errors.max([...path, 'options', k, 'description'], o?.description, 100);
      });
  }

  /** A legacy message: action rows of buttons or one select. */
  legacy(components: any[]): void {
    if (components.length > MAX_ROWS) {
      this.errors.add(['components'], maxLength(MAX_ROWS));
      return;
    }
    components.forEach((row, i) => {
      // A top-level component of a legacy message must be an action row: `Value of field "type" must be one of (1,).`
      // (UNION_TYPE_CHOICES; what bots sending v2 components without the flag get).
      if (row?.type !== ComponentType.ActionRow) {
        this.errors.add(['components', i], choices('type', [ComponentType.ActionRow]));
        return;
      }
      const items = row.components;
      if (!Array.isArray(items) || items.length < 1 || items.length > MAX_ROW_ITEMS) {
        this.errors.add(['components', i, 'components'], badLength(1, MAX_ROW_ITEMS));
        return;
      }
      // Width: a button takes 1 of the row's 5 units, a select all 5 ("Action Row" in docs); the component that
      // overflows the row gets COMPONENT_LAYOUT_WIDTH_EXCEEDED (e.g. a select and a button in one row).
      let width = 0;
      items.forEach((c: any, j: number) => {
        const path = ['components', i, 'components', j];
        if (!ROW_CHILDREN.includes(c?.type)) {
          this.errors.add(path, choices('type', ROW_CHILDREN));
          return;
        }
        width += isSelect(c) ? MAX_ROW_ITEMS : 1;
        if (width > MAX_ROW_ITEMS) this.errors.add(path, WIDTH_EXCEEDED);
        if (c.type === ComponentType.Button) this.button(path, c);
        else this.select(path, c);
      });
    });
  }

  /** IS_COMPONENTS_V2: layout rules are not emulated; buttons and selects anywhere in the tree get their own rules. */
  v2(components: any[], path: Path = ['components']): void {
    components.forEach((c: any, i: number) => {
      const at = [...path, i];
      if (c?.type === ComponentType.Button) this.button(at, c);
      else if (isSelect(c)) this.select(at, c);
      if (Array.isArray(c?.components)) this.v2(c.components, [...at, 'components']);
      if (c?.accessory?.type === ComponentType.Button) this.button([...at, 'accessory'], c.accessory);
    });
  }
}

/** Validates `components` (when present). `v2`: the message has (or gets) the IS_COMPONENTS_V2 flag. */
export function checkComponents(errors: FormErrors, components: unknown, v2: boolean): void {
  if (!Array.isArray(components)) return;
  const checker = new ComponentChecker(errors);
  if (v2) checker.v2(components);
  else checker.legacy(components);
}
