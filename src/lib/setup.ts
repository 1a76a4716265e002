// Runs before any piece is loaded: registry defaults and plugin registration.
import 'reflect-metadata';
import { ApplicationCommandRegistries, RegisterBehavior } from '@sapphire/framework';
import '@sapphire/plugin-subcommands/register';

// One PUT per scope instead of a diff per command: fewer calls, and removed commands really disappear.
ApplicationCommandRegistries.setDefaultBehaviorWhenNotIdentical(RegisterBehavior.BulkOverwrite);
